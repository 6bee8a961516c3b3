/**
 * Peak tensor memory of training against the number of steps T, as users run it: `spikelr train`
 * in a child process per row (a row that exhausts the wasm heap must not take the others with it)
 * for two optimizer steps of 784-500-10 LIF, batch 100, direct input, reading `peakTensorBytes`
 * from its metrics.json (the trainer's synchronous peak over a step: every live tensor counts, the
 * weights, the optimizer's moments and the input batch included). Rows: BPTT, LR (K = 8) in one
 * pass, LR in time chunks of ⌈√T⌉ steps, FG (one direction, step-major) and FG with activity
 * perturbation.
 *
 *     npm run build && node dist/bench/memory-t.js > bench/results/memory-t.jsonl
 *     node dist/bench/memory-t.js --plot bench/results/memory-t.jsonl     # writes bench/results/memory-t.svg
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lineChartSvg } from '../viz/charts.js';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '25,100,250,500,1000' },
    rows: { type: 'string', default: 'bptt,lr,lr-chunked,fg,fg-activity' },
    plot: { type: 'string' },
  },
});

const ROWS: Record<string, { readonly method: string; readonly flags: readonly string[]; readonly label: string }> = {
  bptt: { method: 'bptt', flags: [], label: 'BPTT' },
  lr: { method: 'lr', flags: ['--copies', '8'], label: 'LR (K = 8), one pass' },
  'lr-chunked': { method: 'lr', flags: ['--copies', '8', '--time-chunk', 'auto'], label: 'LR (K = 8), time chunks of ⌈√T⌉' },
  fg: { method: 'fg', flags: ['--directions', '1'], label: 'FG (weights, step-major)' },
  'fg-activity': { method: 'fg-activity', flags: ['--directions', '1'], label: 'FG (activities)' },
};
const B = 100,
  inputs = 784;
const MiB = 2 ** 20;

interface Row {
  row: string;
  method: string;
  steps: number;
  peakTensorMiB?: number;
  inputMiB: number;
  secondsPerStep?: number;
  error?: string;
  machine: string;
}

function measure(row: string, steps: number): Row {
  const spec = ROWS[row]!;
  const out = mkdtempSync(path.join(os.tmpdir(), 'spikelr-memory-'));
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const args = [
    main,
    'train',
    '--method',
    spec.method,
    ...spec.flags,
    '--steps',
    String(steps),
    '--hidden',
    '500',
    '--batch-size',
    String(B),
    '--encoding',
    'direct',
    '--train-limit',
    '200',
    '--test-limit',
    '100',
    '--max-steps',
    '2',
    '--out',
    path.join(out, 'run'),
    '--no-progress',
  ];
  const machine = `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`;
  const result: Row = { row, method: spec.method, steps, inputMiB: Number(((B * steps * inputs * 4) / MiB).toFixed(1)), machine };
  try {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0)
      return {
        ...result,
        error: (
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('spikelr'))
            .at(-1) ?? `exit ${r.status ?? r.signal}`
        ).slice(0, 200),
      };
    const m = JSON.parse(readFileSync(path.join(out, 'run', 'metrics.json'), 'utf8')) as { peakTensorBytes: number; trainSeconds: number; steps: number };
    return { ...result, peakTensorMiB: Number((m.peakTensorBytes / MiB).toFixed(1)), secondsPerStep: Number((m.trainSeconds / m.steps).toFixed(2)) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (a.plot) {
  const rows = readFileSync(a.plot, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
  const svg = lineChartSvg({
    title: 'peak memory of a training step against T (784-500-10, B = 100)',
    x: 'steps T',
    y: 'peak tensor MiB',
    logX: true,
    logY: true,
    xTicks: [25, 100, 250, 500, 1000],
    width: 720,
    height: 380,
    series: [
      ...Object.keys(ROWS).map((name) => ({
        name: ROWS[name]!.label,
        points: rows
          .filter((r) => r.row === name && r.peakTensorMiB !== undefined)
          .map((r) => [r.steps, r.peakTensorMiB!] as [number, number])
          .sort((p, q) => p[0] - q[0]),
      })),
      {
        name: 'the input batch alone',
        points: [...new Set(rows.map((r) => r.steps))].sort((x, y) => x - y).map((t) => [t, (B * t * inputs * 4) / MiB] as [number, number]),
      },
    ].filter((s) => s.points.length > 0),
  });
  const file = path.join(path.dirname(a.plot), 'memory-t.svg');
  writeFileSync(file, `${svg}\n`);
  console.log(`wrote ${file}`);
} else {
  for (const t of a.steps!.split(',').map(Number)) {
    for (const row of a.rows!.split(',')) {
      if (!ROWS[row]) throw new Error(`unknown row '${row}'; rows are ${Object.keys(ROWS).join(', ')}`);
      process.stdout.write(`${JSON.stringify(measure(row, t))}\n`);
    }
  }
}
