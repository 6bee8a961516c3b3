import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { METRICS_LOG } from '../learning/trainer.js';
import { barChartSvg, lineChartSvg, type Series } from '../../viz/charts.js';
import { SCREEN, type Layout } from './viz.js';
import type { htmlReport } from '../../viz/report.js';
export interface History {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testAccuracy: number;
  readonly trainSeconds: number;
  readonly peakTensorBytes: number;
  readonly validationAccuracy?: number;
}

/**
 * A run's log (metrics.jsonl): the loss every few steps, each epoch's end with what was measured
 * there, and the test evaluations between (`--eval-every`, and where a run from a model started).
 */
export interface RunLog {
  readonly steps: readonly [number, number][];
  /** [step, train seconds, test accuracy] of the 'eval' and 'start' lines. */
  readonly evals: readonly [number, number, number][];
  readonly epochs: readonly {
    readonly epoch: number;
    readonly step: number;
    readonly testAccuracy: number | null;
    readonly validationAccuracy?: number;
    readonly trainSeconds: number;
  }[];
}

export async function runLog(runDir: string): Promise<RunLog> {
  const file = path.join(runDir, METRICS_LOG);
  if (!existsSync(file)) return { steps: [], evals: [], epochs: [] };
  const records = (await fs.readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number | string | null>);
  return {
    steps: records.filter((r) => r['type'] === 'step').map((r) => [r['step'] as number, r['loss'] as number]),
    evals: records
      .filter((r) => r['type'] === 'eval' || r['type'] === 'start')
      .map((r) => [r['step'] as number, (r['seconds'] as number | undefined) ?? 0, r['testAccuracy'] as number]),
    epochs: records
      .filter((r) => r['type'] === 'epoch')
      .map((r) => ({
        epoch: r['epoch'] as number,
        step: r['steps'] as number,
        testAccuracy: r['testAccuracy'] as number | null,
        trainSeconds: r['trainSeconds'] as number,
        ...(typeof r['validationAccuracy'] === 'number' ? { validationAccuracy: r['validationAccuracy'] } : {}),
      })),
  };
}

/**
 * Training curves of one or more runs, by step (from each run's metrics.jsonl) with the epochs
 * marked: the loss, test (and validation) accuracy where measured; accuracy against train time;
 * peak tensor memory as bars from zero.
 */
export function curveFigures(
  runs: Record<string, { readonly history: readonly History[]; readonly log: RunLog; readonly peakTensorBytes: number }>,
  color: (name: string) => string,
  dashed: (name: string) => boolean = () => false,
  L: Layout = SCREEN,
): string[] {
  const entries = Object.entries(runs);
  const style = (name: string) => ({ color: color(name), ...(dashed(name) ? { dashed: true } : {}) });
  const first = entries.find(([, r]) => r.log.epochs.length > 1)?.[1] ?? entries[0]?.[1];
  const marks = (first?.log.epochs ?? []).slice(0, -1).map((e) => ({ at: e.step, label: `epoch ${e.epoch + 1}` }));
  // the test accuracy by step and by train seconds: each epoch's end and the evaluations between
  const merged = (points: [number, number][]) => [...new Map(points.sort((a, b) => a[0] - b[0])).entries()];
  const accuracy: Series[] = entries.flatMap(([name, r]) => {
    const test = merged([
      ...r.log.evals.map(([step, , a]) => [step, a] as [number, number]),
      ...r.log.epochs.filter((e) => e.testAccuracy !== null).map((e) => [e.step, e.testAccuracy!] as [number, number]),
    ]);
    const validation = r.log.epochs.filter((e) => e.validationAccuracy !== undefined).map((e) => [e.step, e.validationAccuracy!] as [number, number]);
    return [
      { name, points: test, ...style(name) },
      ...(validation.length ? [{ name: `${name} (validation)`, points: validation, color: color(name), dashed: true }] : []),
    ];
  });
  const between = entries.some(([, r]) => r.log.evals.length > 0);
  // steps from 0 to the last, so an accuracy measured once (one epoch) sits where the run ended
  const last = Math.max(1, ...entries.flatMap(([, r]) => [...r.log.steps.map((p) => p[0]), ...r.log.epochs.map((e) => e.step)]));
  const figures = [
    lineChartSvg({
      ...L.chart,
      title: 'train loss by step',
      x: 'step',
      y: 'train loss',
      logY: 'auto',
      xDomain: [0, last],
      xMarks: marks,
      series: entries.map(([name, r]) => ({ name, points: r.log.steps, ...style(name) })),
    }),
    lineChartSvg({
      ...L.chart,
      title: `test accuracy ${between ? 'every few steps and ' : ''}at each epoch's end${accuracy.some((a) => a.name.endsWith('(validation)')) ? ' (dashed: validation)' : ''}`,
      x: 'step',
      y: 'test accuracy',
      xDomain: [0, last],
      xMarks: marks,
      series: accuracy,
    }),
    lineChartSvg({
      ...L.chart,
      title: 'test accuracy by train time',
      x: 'train seconds',
      y: 'test accuracy',
      zeroBased: false,
      series: entries.map(([name, r]) => ({
        name,
        points: merged([
          ...r.log.evals.map(([, sec, a]) => [sec, a] as [number, number]),
          ...r.history.map((h) => [h.trainSeconds, h.testAccuracy] as [number, number]),
        ]),
        ...style(name),
      })),
    }),
    barChartSvg({
      title: 'peak tensor memory',
      x: 'MiB',
      bars: entries.map(([name, r]) => ({
        name,
        value: r.peakTensorBytes / 2 ** 20,
        color: color(name),
        label: `${(r.peakTensorBytes / 2 ** 20).toFixed(1)} MiB`,
      })),
    }),
  ];
  return figures;
}

/** `spikelr report`: an HTML report of a train run (metrics.json) or a compare run (compare.json). */
export type Report = Parameters<typeof htmlReport>[0];
export const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
