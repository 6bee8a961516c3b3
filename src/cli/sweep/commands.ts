/** `spikelr sweep` and `spikelr worker`: their flags, and what they print. */
import { type Command, Option } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { RULES, type TrainConfig } from '../config.js';
import { addConfigFlags, configFlags } from '../flags.js';
import { integer } from '../parse.js';
import { checkGrid, planSweep, readGrid, settlePlan } from './plan.js';
import { checkReachable, runWorker } from './queue.js';
import { defaultParallel, runSweep } from './run.js';

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

const seedList = (v: string) => list(v).map((x) => integer(0)(x));

const log = (line: string) => process.stderr.write(`spikelr: ${line}\n`);

/** Adds `sweep` and `worker` to the program; `backend()` is the global --backend, passed on to every trial. */
export function addSweepCommands(program: Command, backend: () => string | undefined): void {
  const sweep = program
    .command('sweep')
    .description(
      'train every method × seed × grid point (each an ordinary run directory under OUT/trials/), locally or on a BullMQ queue; writes results.jsonl, summary.json (mean, sd, 95% t interval over seeds) and report.html',
    )
    .requiredOption('--out <dir>', 'the sweep directory (a rerun with the same flags runs only the trials still missing)')
    .option('--methods <list>', 'methods, comma-separated', list, ['lr', 'bptt'])
    .option('--seeds <list>', 'seeds, comma-separated', seedList, [0, 1, 2])
    .option('--grid <file>', 'JSON or YAML object of train flags, each a list of values, e.g. {"learning-rate": [1e-3, 3e-3], "copies": [8, 32]}')
    .option('--config <file>', 'JSON config file every trial starts from (flags override its keys; method and seed are the sweep’s)')
    .option('--parallel <n>', 'trials at once on this machine (default: the cores, given --workers per trial)', integer(1))
    .option('--queue <url>', 'put the trials on the BullMQ queue at redis://HOST:PORT[/DB] for `spikelr worker`s instead of running them here')
    .option('--force', 'start over in a directory that holds a sweep', false)
    .option('--no-pdf', 'figures as SVG only (PDFs need Chromium)')
    .option('--no-progress', 'no progress bar');
  addConfigFlags(
    sweep,
    (Object.keys(RULES) as (keyof TrainConfig)[]).filter((k) => k !== 'method' && k !== 'seed'),
  ).action(async (opts: Record<string, unknown>) => {
    if (backend()) process.env['SPIKELR_BACKEND'] = backend();
    const out = opts['out'] as string;
    const grid = opts['grid'] !== undefined ? await readGrid(opts['grid'] as string) : checkGrid({}, 'grid');
    const flags = configFlags(opts);
    const planned = await planSweep({
      methods: opts['methods'] as string[],
      seeds: opts['seeds'] as number[],
      grid,
      flags,
      ...(opts['config'] !== undefined ? { configFile: opts['config'] as string } : {}),
    });
    // the queue answers before anything is written
    if (opts['queue'] !== undefined) await checkReachable(opts['queue'] as string);
    const plan = await settlePlan(out, planned, opts['force'] as boolean);
    const results = await runSweep(plan, {
      out,
      parallel: (opts['parallel'] as number | undefined) ?? defaultParallel(flags.workers ?? 0),
      ...(opts['queue'] !== undefined ? { queue: opts['queue'] as string } : {}),
      progress: (opts['progress'] as boolean) && process.stderr.isTTY === true,
      pdf: opts['pdf'] as boolean,
      log,
    });
    const refused = results.filter((r) => r.error !== undefined).length;
    process.stdout.write(
      `${results.length - refused} of ${plan.trials.length} trials finished${refused ? `, ${refused} refused` : ''}; wrote ${path.join(out, 'results.jsonl')}, ${path.join(out, 'summary.json')} and ${path.join(out, 'report.html')}\n`,
    );
    if (refused) process.exitCode = 1;
  });

  program
    .command('worker')
    .description('take sweep trials off the BullMQ queue at a Redis URL and train them until stopped (SIGTERM: the running trials go back to the queue)')
    .argument('<url>', 'redis://HOST:PORT[/DB], the --queue of `spikelr sweep`')
    .addOption(new Option('--concurrency <n>', 'trials at once').argParser(integer(1)).default(1))
    .option('--out <dir>', 'where the run directories go (a shared file system lets another worker resume a trial)', path.join('runs', 'sweeps'))
    .action(async (url: string, opts: { concurrency: number; out: string }) => {
      if (backend()) process.env['SPIKELR_BACKEND'] = backend();
      await runWorker(url, { concurrency: opts.concurrency, out: opts.out, log: (line) => log(`worker ${os.hostname()}/${process.pid}: ${line}`) });
    });
}
