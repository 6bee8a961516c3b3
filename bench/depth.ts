/**
 * The depth table (issue 31): one epoch of full MNIST by each learner on 784-512^d-10 LIF networks
 * (10 steps of direct input, β = 0.9, batch 100; every learner on the same network and input, each
 * with its own optimizer settings), as `spikelr train` child processes: test accuracy, training
 * seconds and peak tensor memory, one JSON line per run appended to `--out`.
 *
 *     npm run build && node dist/bench/depth.js [--depths 1,2,3,5] [--variants lr,bptt,…] [--seeds 0,1]
 *                                               [--out bench/results/depth.jsonl] [--extra="--train-limit 1000"]
 *
 * Variants (what each adds to `spikelr train --hidden 512,…,512 --epochs 1`):
 *   lr-plain        --method lr --local-losses none --local-credit loss --learning-rate 1e-3
 *                   (exact LR of the network's loss: the recipe before local losses)
 *   lr-local-loss   --method lr --local-credit loss   (local losses, each block by exact LR of its head's loss)
 *   lr              --method lr                       (the recipe: local losses, unit credit; from d = 2 the
 *                                                      hidden layers' inputs decorrelated, decorrelate 'auto')
 *   lr-nodecor      --method lr --decorrelate none    (the recipe before decorrelate 'auto')
 *   lr-decor        --method lr --decorrelate hidden  (the hidden layers' inputs decorrelated at every depth)
 *   lr-decor-deep   --method lr --decorrelate deep    (the hidden layers after the first decorrelated)
 *   fg-activity     --method fg-activity --epochs 1   (its recipe: local losses, unit credit, K = 1; decorrelated from d = 2)
 *   fg-activity-nodecor  the same, --decorrelate none
 *   fg-activity-decor  the same, the hidden layers' inputs decorrelated
 *   bptt            --method bptt, on the same network and input (its recipe's Adam 5e-4, constant)
 *   bptt-cosine     --method bptt --learning-rate 3e-3 --schedule cosine (LR's optimizer settings)
 *   bptt-local      --method bptt --local-losses each (local BPTT inside each block)
 * Runs go one after another (two at once slow each other by 10–50% on two cores); a SIGTERM or
 * SIGINT stops the running child with this process.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SAME_NETWORK = ['--steps', '10', '--encoding', 'direct', '--beta', '0.9', '--readout-beta', '0.9', '--batch-size', '100'];

export const VARIANTS: Readonly<Record<string, readonly string[]>> = {
  'lr-plain': ['--method', 'lr', '--local-losses', 'none', '--local-credit', 'loss', '--learning-rate', '1e-3'],
  'lr-local-loss': ['--method', 'lr', '--local-credit', 'loss'],
  lr: ['--method', 'lr'],
  'lr-nodecor': ['--method', 'lr', '--decorrelate', 'none'],
  'lr-decor': ['--method', 'lr', '--decorrelate', 'hidden'],
  'lr-decor-deep': ['--method', 'lr', '--decorrelate', 'deep'],
  'fg-activity': ['--method', 'fg-activity'],
  'fg-activity-nodecor': ['--method', 'fg-activity', '--decorrelate', 'none'],
  'fg-activity-decor': ['--method', 'fg-activity', '--decorrelate', 'hidden'],
  bptt: ['--method', 'bptt'],
  'bptt-cosine': ['--method', 'bptt', '--learning-rate', '3e-3', '--schedule', 'cosine'],
  'bptt-local': ['--method', 'bptt', '--local-losses', 'each'],
};

const list = (text: string, what: string, ok: (v: string) => boolean) => {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = items.filter((v) => !ok(v));
  if (items.length === 0 || bad.length)
    throw new Error(`bench/depth: --${what} has ${bad.length ? `'${bad.join("', '")}'` : 'nothing'}; expected a comma-separated list`);
  return items;
};

/** Runs `spikelr train` as a child; a SIGTERM or SIGINT to this process stops the child too (then this one). */
function train(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, SPIKELR_BACKEND: 'wasm' } });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let stopped = false;
    const stop = (signal: NodeJS.Signals) => {
      stopped = true;
      child.kill(signal);
    };
    process.once('SIGTERM', stop).once('SIGINT', stop);
    child.on('close', (status) => {
      process.off('SIGTERM', stop).off('SIGINT', stop);
      if (stopped) process.exit(1);
      resolve({ status, stdout, stderr });
    });
  });
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      depths: { type: 'string', default: '1,2,3,5' },
      variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
      seeds: { type: 'string', default: '0,1' },
      out: { type: 'string', default: path.join('bench', 'results', 'depth.jsonl') },
      extra: { type: 'string', default: '' },
    },
  });
  const depths = list(a.depths, 'depths', (v) => /^[1-9]\d*$/.test(v)).map(Number);
  const variants = list(a.variants, 'variants', (v) => v in VARIANTS);
  const seeds = list(a.seeds, 'seeds', (v) => /^\d+$/.test(v));
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
  const extra = a.extra.split(' ').filter((s) => s.length > 0);
  for (const depth of depths) {
    for (const variant of variants) {
      for (const seed of seeds) {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'spikelr-depth-'));
        const hidden = new Array(depth).fill('512').join(',');
        const flags = [...VARIANTS[variant]!, '--hidden', hidden, '--epochs', '1', ...SAME_NETWORK, '--seed', seed, ...extra];
        const args = [cli, 'train', ...flags, '--no-progress', '--out', dir, '--force'];
        const started = performance.now();
        const r = await train(args);
        const wallSeconds = (performance.now() - started) / 1000;
        const row =
          r.status === 0
            ? (() => {
                const m = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
                return {
                  depth,
                  variant,
                  seed: Number(seed),
                  testAccuracy: m.testAccuracy,
                  trainSeconds: m.trainSeconds,
                  peakTensorMiB: m.peakTensorBytes / 2 ** 20,
                  wallSeconds,
                  command: `spikelr train ${flags.join(' ')}`,
                };
              })()
            : { depth, variant, seed: Number(seed), error: (r.stderr || r.stdout).trim().split('\n').pop() };
        appendFileSync(a.out, `${JSON.stringify(row)}\n`);
        process.stdout.write(`${JSON.stringify(row)}\n`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

await main();
