#!/usr/bin/env node
/** The `spikelr` command. */
import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { BACKEND_CHOICES, initBackend, packageVersions } from '../backend.js';
import { SpikelrError } from '../errors.js';
import { RESET_MODES } from '../neurons/params.js';
import { choice, integer, noise, number } from './parse.js';
import { NEURON_CHOICES, simulate } from './simulate.js';

const version = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

const program = new Command()
  .name('spikelr')
  .description('Spiking neural networks trained by likelihood-ratio gradients')
  .version(version)
  .addOption(
    new Option('--backend <name>', 'tensor backend (default: $SPIKELR_BACKEND, else auto)').choices(BACKEND_CHOICES),
  )
  .showHelpAfterError();

function backendOption(): string | undefined {
  return program.opts<{ backend?: string }>().backend;
}

program
  .command('info')
  .description('print the tensor backend chosen, what was tried, and package versions')
  .action(async () => {
    const report = await initBackend({ backend: backendOption(), log: null });
    const lines = [
      `spikelr ${version}`,
      `backend: ${report.name} (requested ${report.requested} via ${report.source})`,
      'tried:',
      ...report.attempts.map((a) => `  ${a.ok ? 'ok  ' : 'no  '} ${a.candidate}: ${a.detail}`),
      'versions:',
      ...Object.entries(packageVersions()).map(([k, v]) => `  ${k}: ${v}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  });

program
  .command('simulate')
  .description('simulate a 784-H-10 spiking network on rate-coded MNIST test digits')
  .option('--hidden <n>', 'hidden neurons', integer(1), 1000)
  .option('--steps <n>', 'time steps', integer(1), 25)
  .option('--batch <n>', 'digits per batch', integer(1), 128)
  .option('--offset <n>', 'index of the first test digit', integer(0), 0)
  .addOption(new Option('--neuron <kind>', 'hidden neuron model').choices(NEURON_CHOICES).default('lif'))
  .option('--beta <x>', 'membrane decay per step', number, 0.95)
  .option('--threshold <x>', 'firing threshold', number, 1)
  .addOption(new Option('--reset <mode>', 'reset after a spike').choices(RESET_MODES).default('subtract'))
  .option('--noise <kind:sigma>', 'escape noise, e.g. logistic:0.5 (default: deterministic)', noise)
  .option('--seed <n>', 'seed of weights, input spikes and noise', integer(0), 0)
  .option('--repeat <n>', 'runs to time (the median is reported)', integer(1), 3)
  .option('--model <file>', 'load this network (.safetensors) instead of building one')
  .option('--save <file>', 'save the network to this .safetensors file')
  .option('--json', 'print one JSON line', false)
  .action(async (opts) => {
    await initBackend({ backend: backendOption() });
    await simulate(opts);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof SpikelrError) {
    process.stderr.write(`spikelr: error: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
});
