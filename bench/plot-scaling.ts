/**
 * Figures of the scaling measurements, drawn by spikelr's own renderers:
 *
 *     npm run build && node dist/bench/plot-scaling.js bench/results/scaling-wasm.jsonl bench/results
 *
 * writes scaling-time.svg (LR step time against K, T and H) and scaling-memory.svg (peak tensor
 * memory of LR and BPTT against T).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lineChartSvg } from '../viz/charts.js';

const [input = 'bench/results/scaling-wasm.jsonl', outDir = 'bench/results'] = process.argv.slice(2);
interface Row {
  method: 'lr' | 'bptt';
  hidden: number;
  copies?: number;
  steps: number;
  msPerStep?: number;
  peakTensorMiB?: number;
  error?: string;
}
const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Row)
  .filter((r) => r.error === undefined);
const lr = rows.filter((r) => r.method === 'lr');
const at = (f: (r: Row) => boolean, x: (r: Row) => number, y: (r: Row) => number) =>
  lr
    .filter(f)
    .map((r) => [x(r), y(r)] as [number, number])
    .sort((p, q) => p[0] - q[0]);
const ms = (r: Row) => r.msPerStep!;
const time = [
  lineChartSvg({
    title: 'LR step time against copies K (H = 512, T = 25)',
    x: 'copies K',
    y: 'ms per step',
    logX: true,
    series: [
      {
        name: 'lr',
        points: at(
          (r) => r.hidden === 512 && r.steps === 25,
          (r) => r.copies!,
          ms,
        ),
      },
    ],
  }),
  lineChartSvg({
    title: 'LR step time against steps T (H = 512, K = 8)',
    x: 'steps T',
    y: 'ms per step',
    logX: true,
    series: [
      {
        name: 'lr',
        points: at(
          (r) => r.hidden === 512 && r.copies === 8,
          (r) => r.steps,
          ms,
        ),
      },
    ],
  }),
  lineChartSvg({
    title: 'LR step time against hidden size H (K = 8, T = 25)',
    x: 'hidden H',
    y: 'ms per step',
    logX: true,
    series: [
      {
        name: 'lr',
        points: at(
          (r) => r.copies === 8 && r.steps === 25,
          (r) => r.hidden,
          ms,
        ),
      },
    ],
  }),
];
const memory = lineChartSvg({
  title: 'peak tensor memory of one step against T (H = 512, B = 128)',
  x: 'steps T',
  y: 'MiB',
  logX: true,
  series: (['lr', 'bptt'] as const).map((m) => ({
    name: m === 'lr' ? 'LR (K = 8)' : 'BPTT',
    points: rows
      .filter((r) => r.method === m && r.hidden === 512 && (m === 'bptt' || r.copies === 8))
      .map((r) => [r.steps, r.peakTensorMiB!] as [number, number])
      .sort((p, q) => p[0] - q[0]),
  })),
});
// three time charts side by side in one SVG
const width = 560,
  height = 300;
const inner = (svg: string, x: number) => svg.replace('<svg ', `<svg x="${x}" y="0" `);
writeFileSync(
  path.join(outDir, 'scaling-time.svg'),
  `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * width}" height="${height}" viewBox="0 0 ${3 * width} ${height}">${time.map((s, i) => inner(s, i * width)).join('')}</svg>\n`,
);
writeFileSync(path.join(outDir, 'scaling-memory.svg'), `${memory}\n`);
console.log(`wrote ${path.join(outDir, 'scaling-time.svg')} and ${path.join(outDir, 'scaling-memory.svg')}`);
