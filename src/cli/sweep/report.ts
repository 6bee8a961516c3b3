/**
 * A sweep's summary: per grid point (a method with one value of each grid key), the test accuracy,
 * training time and peak tensor memory over its seeds as mean, standard deviation and 95% t
 * interval; the points ranked by accuracy, saying where neighbours' intervals overlap (the data
 * cannot order them). summary.json holds it, report.html shows it with a table and a plot with
 * error bars, and figures/ has the plots as SVG (and PDF where Chromium is at hand).
 */
import path from 'node:path';
import { intervalChartSvg } from '../../../viz/charts.js';
import { palette } from '../../../viz/palette.js';
import { htmlReport, type Section } from '../../../viz/report.js';
import { writeFileAtomic } from '../../core/platform/node.js';
import { kebab } from '../config.js';
import { writeFigures } from '../figures.js';
import { pct } from '../run-log.js';
import type { SweepPlan } from './plan.js';
import { interval, type Interval, overlaps } from './stats.js';
import type { TrialResult } from './trial.js';

export interface GridPoint {
  /** `method` and the grid's values, as the table names it. */
  readonly name: string;
  readonly method: string;
  readonly grid: Readonly<Record<string, unknown>>;
  readonly seeds: readonly number[];
  readonly testAccuracy: Interval;
  readonly trainSeconds: Interval;
  readonly peakTensorMiB: Interval;
  /** Trials of the point the trainer refused, with why. */
  readonly refused: readonly { readonly seed: number; readonly error: string }[];
}

export interface SweepSummary {
  readonly sweep: string;
  readonly trials: number;
  readonly finished: number;
  /** Grid points by mean test accuracy, best first. */
  readonly points: readonly GridPoint[];
  /** For each point after the first: whether its interval overlaps the one ranked above it. */
  readonly ranking: readonly { readonly above: string; readonly below: string; readonly overlapping: boolean }[];
}

const pointName = (method: string, grid: Readonly<Record<string, unknown>>) =>
  [method, ...Object.entries(grid).map(([k, v]) => `${kebab(k)}=${typeof v === 'string' ? v : JSON.stringify(v)}`)].join(' ');

/** The summary of the results of a plan's trials. */
export function summarize(plan: SweepPlan, results: readonly TrialResult[]): SweepSummary {
  const groups = new Map<string, TrialResult[]>();
  for (const r of results) {
    const key = pointName(r.method, r.grid);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const points: GridPoint[] = [];
  for (const [name, rs] of groups) {
    const ok = rs.filter((r) => r.error === undefined && r.testAccuracy !== null);
    if (ok.length === 0) continue;
    points.push({
      name,
      method: rs[0]!.method,
      grid: rs[0]!.grid,
      seeds: ok.map((r) => r.seed),
      testAccuracy: interval(ok.map((r) => r.testAccuracy!)),
      trainSeconds: interval(ok.map((r) => r.trainSeconds ?? 0)),
      peakTensorMiB: interval(ok.map((r) => (r.peakTensorBytes ?? 0) / 2 ** 20)),
      refused: rs.filter((r) => r.error !== undefined).map((r) => ({ seed: r.seed, error: r.error! })),
    });
  }
  points.sort((a, b) => b.testAccuracy.mean - a.testAccuracy.mean);
  const ranking = points.slice(1).map((p, i) => ({ above: points[i]!.name, below: p.name, overlapping: overlaps(points[i]!.testAccuracy, p.testAccuracy) }));
  return { sweep: plan.id, trials: plan.trials.length, finished: results.filter((r) => r.error === undefined).length, points, ranking };
}

const ciText = (i: Interval, f: (x: number) => string) => (i.ci95 ? `${f(i.ci95[0])} – ${f(i.ci95[1])}` : 'one seed');

/** The ranking in words: which neighbours the data orders, and which it does not. */
function rankingText(s: SweepSummary): string {
  if (s.points.length < 2) return 'One grid point: nothing to rank.';
  const tied = s.ranking.filter((r) => r.overlapping);
  const first = s.points[0]!;
  return [
    `${first.name} ranks first by mean test accuracy (${pct(first.testAccuracy.mean)} over ${first.testAccuracy.n} seeds).`,
    tied.length === 0
      ? 'No two neighbours in the ranking have overlapping 95% intervals: the seeds order every point.'
      : `Overlapping 95% intervals (the seeds do not order these): ${tied.map((r) => `${r.above} and ${r.below}`).join('; ')}.`,
  ].join(' ');
}

/** Writes summary.json, report.html and figures/ into the sweep's directory. */
export async function writeSweepReport(
  plan: SweepPlan,
  results: readonly TrialResult[],
  out: string,
  o: { readonly pdf?: boolean } = {},
): Promise<SweepSummary> {
  const s = summarize(plan, results);
  await writeFileAtomic(path.join(out, 'summary.json'), `${JSON.stringify(s, null, 2)}\n`);
  const colors = palette(plan.methods);
  const chart = intervalChartSvg({
    title: 'Test accuracy by grid point (mean and 95% interval over seeds)',
    x: 'test accuracy (%)',
    rows: s.points.map((p) => ({
      name: p.name,
      mean: 100 * p.testAccuracy.mean,
      ...(p.testAccuracy.ci95 ? { interval: [100 * p.testAccuracy.ci95[0], 100 * p.testAccuracy.ci95[1]] as const } : {}),
      color: colors(p.method),
      label: pct(p.testAccuracy.mean),
    })),
  });
  const time = intervalChartSvg({
    title: 'Training seconds by grid point',
    x: 'seconds of training',
    rows: s.points.map((p) => ({
      name: p.name,
      mean: p.trainSeconds.mean,
      ...(p.trainSeconds.ci95 ? { interval: p.trainSeconds.ci95 } : {}),
      color: colors(p.method),
      label: `${p.trainSeconds.mean.toFixed(1)} s`,
    })),
  });
  const refused = results.filter((r) => r.error !== undefined);
  const sections: Section[] = [
    {
      heading: 'Ranking',
      text: `${rankingText(s)} ${s.finished} of ${s.trials} trials finished${refused.length ? `, ${refused.length} refused by the trainer (below)` : ''}.`,
      figures: s.points.length ? [chart, time] : [],
      table: {
        header: ['grid point', 'seeds', 'test accuracy (mean ± sd)', '95% interval', 'train s (mean)', 'peak tensor MiB'],
        rows: s.points.map((p) => [
          p.name,
          p.seeds.join(', '),
          `${pct(p.testAccuracy.mean)}${p.testAccuracy.sd !== null ? ` ± ${(100 * p.testAccuracy.sd).toFixed(2)}` : ''}`,
          ciText(p.testAccuracy, pct),
          p.trainSeconds.mean.toFixed(1),
          p.peakTensorMiB.mean.toFixed(1),
        ]),
      },
    },
    {
      heading: 'Trials',
      table: {
        header: ['trial', 'test accuracy', 'steps', 'train s', 'host', 'refused'],
        rows: results.map((r) => [
          r.trial,
          r.testAccuracy === null ? '—' : pct(r.testAccuracy),
          r.steps ?? '—',
          r.trainSeconds?.toFixed(1) ?? '—',
          r.host,
          r.error ?? '',
        ]),
      },
    },
  ];
  await writeFileAtomic(
    path.join(out, 'report.html'),
    htmlReport({ title: `spikelr sweep ${plan.id}`, subtitle: `${plan.methods.join(', ')} × seeds ${plan.seeds.join(', ')}`, sections }),
  );
  if (s.points.length) await writeFigures([chart, time], path.join(out, 'figures'), { style: 'screen', pdf: o.pdf ?? false });
  return s;
}
