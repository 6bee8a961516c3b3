#!/usr/bin/env node
/** The `spikelr` command. */
import { fail } from './failure.js';
import { numberList, positiveNumber } from './flags.js';
import { Command, Option } from 'commander';
import path from 'node:path';
import { createRequire } from 'node:module';
import { BACKEND_CHOICES, initBackend, packageVersions } from '../kernels/backend.js';
import { SpikelrError } from '../core/errors.js';
import { RESET_MODES } from '../neurons/params.js';
import { integer, noise, number } from './parse.js';
import { simulate } from './simulate.js';
import { DECORRELATED, kebab, METHODS, NEURONS, resolveConfig, RULES, type TrainConfig } from './config.js';
import { runCompare } from './compare.js';
import { reportCommand } from './report.js';
import { rasterCommand } from './viz.js';
import { FIGURE_STYLES, type FigureStyle } from './figures.js';
import { NEURON_ORDERS, type NeuronOrder } from '../../viz/raster.js';
import { addConfigFlags, configFlags } from './flags.js';
import { resumeTraining, runEvaluation, runTraining, type RunSummary } from './train.js';
import { exportCommand, importCommand } from './nir.js';
import { runFinetune } from './finetune.js';
import { serve } from './serve.js';
import { addSweepCommands } from './sweep/commands.js';
import { DEFAULT_DT } from '../io/nir/index.js';

const version = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

const program = new Command()
  .name('spikelr')
  .description('Spiking neural networks trained by likelihood-ratio gradients')
  .version(version)
  .addOption(new Option('--backend <name>', 'tensor backend (default: $SPIKELR_BACKEND, else auto)').choices(BACKEND_CHOICES))
  .addOption(
    new Option(
      '--threads <n>',
      'threads for large matrix products on wasm: 1, 2, or auto (2 with two cores; the same results) (default: $SPIKELR_THREADS, else auto)',
    ).choices(['1', '2', 'auto']),
  )
  // one line of advice, not the whole help: the error itself stays in view
  .showHelpAfterError('(add --help to the command for its options)');

function backendOption(): string | undefined {
  return program.opts<{ backend?: string }>().backend;
}

/** The backend and product threads the global options (or $SPIKELR_BACKEND, $SPIKELR_THREADS) ask for. */
function backendOptions(): { backend: string | undefined; threads: number | 'auto' } {
  const given = program.opts<{ threads?: string }>().threads ?? process.env['SPIKELR_THREADS'] ?? 'auto';
  if (!['1', '2', 'auto'].includes(given)) throw new SpikelrError(`SPIKELR_THREADS must be 1, 2 or auto, got '${given}'`);
  return { backend: backendOption(), threads: given === 'auto' ? 'auto' : Number(given) };
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
    process.stdout.write(`${lines.join('\n')}\n`);
  });

program
  .command('simulate')
  .description('simulate a 784-H-10 spiking network on rate-coded MNIST test digits')
  .option('--hidden <n>', 'hidden neurons', integer(1), 1000)
  .option('--steps <n>', 'time steps', integer(1), 25)
  .option('--batch <n>', 'digits per batch', integer(1), 128)
  .option('--offset <n>', 'index of the first test digit', integer(0), 0)
  .addOption(new Option('--neuron <kind>', 'hidden neuron model').choices(NEURONS).default('lif'))
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
    await initBackend(backendOptions());
    await simulate(opts);
  });

const train = program
  .command('train')
  .description('train a spiking network by LR or surrogate-gradient BPTT into a run directory (config.json, metrics.jsonl, checkpoints, model, metrics.json)')
  .option('--config <file>', 'JSON config file (flags override its keys)')
  .option('--out <dir>', 'run directory (default runs/<method>-<dataset>-seed<seed>)')
  .option('--resume <dir>', 'continue the run in this directory from its last checkpoint')
  .option('--force', 'overwrite an existing run directory', false)
  .option('--eval-noise', 'also report test accuracy with the escape noise (the stochastic network LR trains)', false)
  .option('--no-progress', 'no progress bar');
addConfigFlags(train).action(async (opts: Record<string, unknown>) => {
  await initBackend(backendOptions());
  const run = { progress: opts['progress'] as boolean, evalNoise: opts['evalNoise'] as boolean, force: opts['force'] as boolean };
  let summary: RunSummary;
  if (opts['resume'] !== undefined) {
    const flags = configFlags(opts);
    if (Object.keys(flags).length > 0 || opts['config'] !== undefined) {
      throw new SpikelrError(
        `--resume continues a run with its own config.json; drop ${[...Object.keys(flags).map((k) => `--${kebab(k)}`), ...(opts['config'] !== undefined ? ['--config'] : [])].join(', ')}`,
      );
    }
    summary = await resumeTraining(opts['resume'] as string, run);
  } else {
    const config = await resolveConfig({ ...(opts['config'] !== undefined ? { file: opts['config'] as string } : {}), flags: configFlags(opts) });
    summary = await runTraining(config, { ...run, ...(opts['out'] !== undefined ? { out: opts['out'] as string } : {}) });
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.stopped === 'aborted') process.exit(130);
});

const finetune = program
  .command('finetune')
  .description(
    "deploy a trained run or an imported model (quantized weights, fixed-point neurons, device mismatch: --deploy) and fine-tune it under the deployment; a run directory like train's, with the accuracy before and after in metrics.json",
  )
  .argument('<dir>', 'directory of a finished run, or of a model spikelr import wrote (its recipe then comes from the flags)')
  .option('--out <dir>', 'run directory (default <run-dir>-finetune-<method>)')
  .option('--force', 'overwrite an existing run directory', false)
  .option('--eval-noise', 'also report test accuracy with the escape noise', false)
  .option('--no-progress', 'no progress bar');
addConfigFlags(
  finetune,
  (Object.keys(RULES) as (keyof TrainConfig)[]).filter((k) => k !== 'init'),
).action(async (source: string, opts: Record<string, unknown>) => {
  await initBackend(backendOptions());
  const summary = await runFinetune(source, configFlags(opts), {
    progress: opts['progress'] as boolean,
    evalNoise: opts['evalNoise'] as boolean,
    force: opts['force'] as boolean,
    ...(opts['out'] !== undefined ? { out: opts['out'] as string } : {}),
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.stopped === 'aborted') process.exit(130);
});

const evaluate = program
  .command('eval')
  .description('accuracy of a trained model: a run directory (its model and config) or a model file with --config/flags')
  .argument('<run-or-model>', 'run directory or .safetensors model')
  .option('--config <file>', "JSON config naming the dataset and encoding (default: the run directory's config.json)")
  .addOption(new Option('--split <name>', 'which split').choices(['test', 'train']).default('test'))
  .option('--eval-noise', 'also evaluate with the escape noise', false);
addConfigFlags(evaluate, [
  'dataset',
  'dataDir',
  'testLimit',
  'trainLimit',
  'steps',
  'encoding',
  'accuracy',
  'noise',
  'seed',
  'loss',
  'reduction',
  'deploy',
]).action(async (target: string, opts: Record<string, unknown>) => {
  await initBackend(backendOptions());
  const result = await runEvaluation({
    target,
    ...(opts['config'] !== undefined ? { config: opts['config'] as string } : {}),
    flags: configFlags(opts),
    noise: opts['evalNoise'] as boolean,
    split: opts['split'] as 'train' | 'test',
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
});

const compare = program
  .command('compare')
  .description(
    'train one model by LR and by BPTT (same data, seed, initialisation) and compare accuracy, time, memory, gradients and robustness; writes compare.json and report.md',
  )
  .option('--config <file>', 'JSON config file (flags override its keys; method is ignored)')
  .option('--out <dir>', 'output directory (default runs/compare-<dataset>-seed<seed>)')
  .option('--methods <list>', 'methods to train, comma-separated', (v: string) => v.split(',').map((m) => m.trim()), ['lr', 'bptt'])
  .option('--gradient-batches <n>', 'fixed training batches the LR and BPTT gradients are compared on', integer(1), 4)
  .option('--copies-sweep <list>', 'copies K of the cosine- and variance-against-K sweep', numberList(1, 4096), [2, 8, 32])
  .option('--sweep-draws <n>', 'independent LR draws per K in the sweep', integer(2), 4)
  .option('--epsilons <list>', 'attack radii (L-infinity, images in [0, 1])', numberList(0, 1), [0, 0.02, 0.05, 0.1, 0.2])
  .option('--noise-levels <list>', 'Gaussian corruption standard deviations', numberList(0, 10), [0.1, 0.2, 0.3, 0.5])
  .option('--attack-samples <n>', 'test images attacked', integer(1), 1000)
  .option('--pgd-iterations <n>', 'PGD steps', integer(1), 10)
  .option(
    '--decorrelate <list>',
    `layers whose input is decorrelated: ${DECORRELATED.join(', ')}; a comma-separated list (e.g. none,all) runs every method once per value, side by side (default none)`,
    (v: string) => v.split(',').map((x) => x.trim()),
  )
  .option('--decorrelation-warmup <n>', 'with --decorrelate: R-only updates before the gradients are compared', integer(0), 200)
  .option('--force', 'overwrite existing run directories', false)
  .option('--no-progress', 'no progress bar');
addConfigFlags(
  compare,
  (Object.keys(RULES) as (keyof TrainConfig)[]).filter((k) => k !== 'method' && k !== 'decorrelate'),
).action(async (opts: Record<string, unknown>) => {
  const methods = opts['methods'] as string[];
  for (const m of methods)
    if (!(METHODS as readonly string[]).includes(m)) throw new SpikelrError(`--methods: unknown method '${m}'; expected some of ${METHODS.join(', ')}`);
  const decorrelations = opts['decorrelate'] as string[] | undefined;
  for (const d of decorrelations ?? [])
    if (!(DECORRELATED as readonly string[]).includes(d))
      throw new SpikelrError(`--decorrelate: unknown value '${d}'; expected one or more of ${DECORRELATED.join(', ')}, comma-separated`);
  await initBackend(backendOptions());
  const flags = { ...configFlags(opts), ...(decorrelations ? { decorrelate: decorrelations[0] as TrainConfig['decorrelate'] } : {}) };
  const config = await resolveConfig({ ...(opts['config'] !== undefined ? { file: opts['config'] as string } : {}), flags, method: 'lr', shared: true });
  const out = (opts['out'] as string | undefined) ?? path.join('runs', `compare-${config.dataset}-seed${config.seed}`);
  await runCompare(config, {
    out,
    methods: methods as TrainConfig['method'][],
    ...(decorrelations ? { decorrelations: decorrelations as TrainConfig['decorrelate'][] } : {}),
    gradientBatches: opts['gradientBatches'] as number,
    copiesSweep: opts['copiesSweep'] as number[],
    sweepDraws: opts['sweepDraws'] as number,
    epsilons: opts['epsilons'] as number[],
    noiseLevels: opts['noiseLevels'] as number[],
    attackSamples: opts['attackSamples'] as number,
    pgdIterations: opts['pgdIterations'] as number,
    decorrelationWarmup: opts['decorrelationWarmup'] as number,
    progress: opts['progress'] as boolean,
    force: opts['force'] as boolean,
  });
  process.stdout.write(`wrote ${path.join(out, 'compare.json')} and ${path.join(out, 'report.md')}\n`);
});

const raster = program
  .command('raster')
  .description('spike raster, membrane traces and firing rates of one test sample: an HTML page (zoom, hover) and/or an SVG')
  .argument('[run-or-model]', 'run directory or .safetensors model (or --model)')
  .option('--model <file>', 'model file or run directory')
  .option('--config <file>', "JSON config naming the dataset and encoding (default: the run directory's config.json)")
  .option('--sample <n>', 'index of the test sample', integer(0), 0)
  .option('--out <file>', 'HTML output')
  .option('--svg <file>', 'SVG output of the raster (for papers)')
  .option('--layers <list>', 'only these layers, comma-separated (input and the spiking layers by name)', (v: string) => v.split(',').map((x) => x.trim()))
  .option('--eval-noise', 'run with the escape noise', false)
  .addOption(
    new Option('--order <how>', 'row order of the neurons: index, first-spike (time of the first spike), cluster (neurons firing together drawn together)')
      .choices([...NEURON_ORDERS])
      .default('index'),
  )
  .option(
    '--neurons <list>',
    'membrane traces of these neurons of the first spiking layer (default: ones that cross the threshold now and then)',
    (v: string) => v.split(',').map((x) => Number(x.trim())),
  )
  .option('--over-training', "a film of the sample's raster through every snapshot of the run (train with --snapshots true)", false);
addConfigFlags(raster, ['dataset', 'dataDir', 'steps', 'encoding', 'noise', 'seed']).action(
  async (positional: string | undefined, opts: Record<string, unknown>) => {
    const target = (opts['model'] as string | undefined) ?? positional;
    if (!target) throw new SpikelrError('raster: give the model: spikelr raster --model <file.safetensors|run-dir> --out raster.html');
    await initBackend(backendOptions());
    const written = await rasterCommand({
      target,
      flags: configFlags(opts),
      sample: opts['sample'] as number,
      noise: opts['evalNoise'] as boolean,
      ...(opts['layers'] !== undefined ? { layers: opts['layers'] as string[] } : {}),
      order: opts['order'] as NeuronOrder,
      overTraining: opts['overTraining'] as boolean,
      ...(opts['neurons'] !== undefined ? { neurons: opts['neurons'] as number[] } : {}),
      ...(opts['config'] !== undefined ? { config: opts['config'] as string } : {}),
      ...(opts['out'] !== undefined ? { out: opts['out'] as string } : {}),
      ...(opts['svg'] !== undefined ? { svg: opts['svg'] as string } : {}),
    });
    process.stdout.write(`wrote ${written.join(' and ')}\n`);
  },
);

program
  .command('report')
  .description(
    'HTML report of a train run (metrics.json) or a compare run (compare.json): curves, gradients, robustness, rasters; --figures writes each figure as SVG and PDF for a paper',
  )
  .argument('<run-dir>', 'run directory')
  .option('--out <file>', 'HTML output')
  .option(
    '--figures <dir>',
    'write every figure into this folder as NN-title.svg and NN-title.pdf (Chromium prints the PDFs: fonts embedded, a journal column wide)',
  )
  .addOption(
    new Option('--style <style>', 'screen, or paper: print fonts, black axes, no frames or hover titles').choices([...FIGURE_STYLES]).default('screen'),
  )
  .option('--no-pdf', 'with --figures, the SVGs alone')
  .action(async (runDir: string, opts: { out?: string; figures?: string; style: FigureStyle; pdf: boolean }) => {
    await initBackend(backendOptions());
    const written = await reportCommand(runDir, {
      ...(opts.out !== undefined ? { out: opts.out } : {}),
      ...(opts.figures !== undefined ? { figures: opts.figures } : {}),
      style: opts.style,
      pdf: opts.pdf,
    });
    process.stdout.write(`wrote ${written.length > 3 ? `${written.length} files (${written.slice(0, 2).join(', ')}, …)` : written.join(' and ')}\n`);
  });

program
  .command('export')
  .description('write a trained network (a run directory or a model file) as a NIR file for snnTorch, Norse, sinabs, Lava, SpiNNaker2, …')
  .argument('<run-or-model>', 'run directory or .safetensors model')
  .requiredOption('--nir <file>', 'the NIR file to write (HDF5)')
  .option(
    '--dt <seconds>',
    "the time step NIR's time constants are expressed in (τ = dt/(1 − β)); readers must use the same (snnTorch's import_from_nir assumes 1e-4)",
    positiveNumber,
    DEFAULT_DT,
  )
  .option('--deterministic', 'export a network trained with escape noise (LR) as its deterministic network: NIR has no stochastic neurons', false)
  .option(
    '--reset-metadata',
    "write reset-by-subtraction neurons as NIR's reset-to-zero LIF with reset 'subtract' in their metadata (spikelr reads it back; other tools reset to zero)",
    false,
  )
  .action(async (target: string, opts: { nir: string; dt: number; deterministic: boolean; resetMetadata: boolean }) => {
    await initBackend(backendOptions());
    process.stdout.write(`${JSON.stringify(await exportCommand(target, opts))}\n`);
  });

program
  .command('import')
  .description(
    'build the network of a NIR file, or of a tfjs-layers model.json (dense and conv layers as analog units), and save it as a spikelr model in a directory (evaluate it with spikelr eval DIR and the data flags; fine-tune it with spikelr finetune DIR)',
  )
  .argument('<file>', 'NIR file (HDF5) or tfjs-layers model.json')
  .requiredOption('--out <dir>', 'directory for model.safetensors and import.json')
  .option(
    '--dt <seconds>',
    "the time step the file's time constants are stepped with (default: the file's own when spikelr wrote it, else 1e-4, snnTorch's)",
    positiveNumber,
  )
  .option('--force', 'overwrite a model already in --out', false)
  .action(async (file: string, opts: { out: string; dt?: number; force: boolean }) => {
    await initBackend(backendOptions());
    process.stdout.write(`${JSON.stringify(await importCommand(file, opts))}\n`);
  });

program
  .command('serve')
  .description('serve the web playground and the backend check page (dist/web) on this machine; open the printed address in a browser')
  .option('--port <n>', 'port (0: any free one)', integer(0), 8080)
  .option('--host <address>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
  .action(async (opts: { port: number; host: string }) => {
    const { url } = await serve(opts);
    process.stdout.write(`spikelr: the playground is at ${url} (the backend check at ${url}check.html); Ctrl-C stops\n`);
  });

addSweepCommands(program, backendOption);

// a trial of a sweep (started with an IPC channel) ends with the sweep or worker that started it:
// a killed parent must not leave a trainer writing into a run directory another process takes over
if (process.send) {
  process.once('disconnect', () => {
    process.stderr.write('spikelr: the process that started this run ended; stopping (the last checkpoint is intact)\n');
    process.exit(1);
  });
  process.channel?.unref();
}

// registered before the wasm backend loads, so these run before Emscripten's own rethrowing handler
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

program.parseAsync(process.argv).catch(fail);
