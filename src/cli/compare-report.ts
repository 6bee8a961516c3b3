import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadNetwork } from '../io/network-file.js';
import { MODEL_FILE } from '../learning/trainer.js';
import type { DiagnosticsRow } from '../learning/diagnostics.js';
import { barChartSvg, lineChartSvg, type Series } from '../../viz/charts.js';
import { layerPalette, palette } from '../../viz/palette.js';
import type { Section } from '../../viz/report.js';
import type { TrainConfig } from './config.js';
import { pct, curveFigures, runLog, type History, type Report } from './run-log.js';
import { sampleFigures, sampleSections, SCREEN, type Layout } from './viz.js';
import { armMethod, samplesName, sweepsOf } from './compare-arms.js';
interface CompareJson {
  config: TrainConfig;
  methods: string[];
  /** A compare of decorrelation variants: each run's method and decorrelation. */
  arms?: Record<string, { method: string; decorrelate: string }>;
  runs: Record<string, { testAccuracy: number; trainSeconds: number; samplesPerSecond: number; peakTensorBytes: number; history: History[] }>;
  gradients: {
    /** Batches the gradient statistics average over. */
    batches?: number;
    initial: { parameter: string; mean: number; sd: number; normRatio: number }[];
    copies?: DiagnosticsRow[];
    sweeps?: Record<string, DiagnosticsRow[]>;
    trainedLR?: { parameter: string; mean: number; sd: number; normRatio: number }[];
    /** LR arms after the first (a compare of decorrelation variants): the estimate against BPTT at the weights each trained. */
    trainedArms?: Record<string, { parameter: string; mean: number; sd: number; normRatio: number }[]>;
    /** Every other compared method's gradient against BPTT's at initialisation. */
    methods?: Record<string, { parameter: string; mean: number; sd: number; normRatio: number }[]>;
  };
  robustness: {
    epsilons?: number[];
    fgsm?: Record<string, number[]>;
    pgd?: Record<string, number[]>;
    transfer?: Record<string, number[]>;
    noiseLevels?: number[];
    gaussian?: Record<string, number[]>;
    samples?: number;
    skipped?: string;
  };
}

/** A transfer-attack key of a robustness table, 'lrFromBptt', as the attacked run and the one the attack was crafted on. */
function transferOf(key: string): { attacked: string; source: string } | undefined {
  const m = /^(.+)From([A-Z].*)$/.exec(key);
  return m ? { attacked: m[1]!, source: `${m[2]![0]!.toLowerCase()}${m[2]!.slice(1)}` } : undefined;
}

/** A robustness table's key in words: 'lrFromBptt' is LR attacked by PGD crafted on the BPTT model. */
export function robustnessLabel(key: string): string {
  const transfer = transferOf(key);
  return transfer ? `${transfer.attacked} (attacks crafted on ${transfer.source})` : key;
}

export async function compareReport(runDir: string, c: CompareJson, L: Layout = SCREEN): Promise<Report> {
  // one colour per method in every chart; a decorrelated arm dashed in its method's colour
  const methodColor = palette(c.methods.map(armMethod));
  const color = (arm: string) => methodColor(armMethod(arm));
  const dashed = (arm: string) => arm.includes('+');
  const style = (arm: string): Pick<Series, 'color' | 'dashed'> => ({ color: color(arm), ...(dashed(arm) ? { dashed: true } : {}) });
  const mib = (bytes: number) => bytes / 2 ** 20;
  const logs = Object.fromEntries(await Promise.all(c.methods.map(async (m) => [m, await runLog(path.join(runDir, m))] as const)));
  const sweeps = sweepsOf(c.gradients);
  const lrSweep = sweeps['lr'];
  const layers = lrSweep?.length ? Object.keys(lrSweep[0]!.layers) : [];
  const layerColor = layerPalette(layers);
  const kTicks = (rows: readonly DiagnosticsRow[]) => rows.map((r) => r.copies);
  // one draw (a single gradient batch) has no spread to show
  const spread = (c.gradients.batches ?? 2) > 1;
  const cosRows = (rows: CompareJson['gradients']['initial']) =>
    rows.map((l) => [l.parameter, spread ? `${l.mean.toFixed(3)} ± ${l.sd.toFixed(3)}` : l.mean.toFixed(3), l.normRatio.toFixed(3)]);
  const cosHeader = (what: string) => `${what}${spread ? ` (mean ± sd over ${c.gradients.batches} batches)` : ' (one batch)'}`;

  // the summary: one screen, small multiples per method, and the gradient agreement
  const r = c.robustness;
  const middle = r.epsilons ? Math.floor((r.epsilons.length - 1) / 2) + (r.epsilons[0] === 0 ? 1 : 0) : 0;
  const eps = r.epsilons?.[Math.min(middle, (r.epsilons?.length ?? 1) - 1)];
  const summary: string[] = [
    barChartSvg({
      title: 'test accuracy',
      x: 'accuracy',
      domain: [0, 1],
      bars: c.methods.map((m) => ({ name: m, value: c.runs[m]!.testAccuracy, color: color(m), label: pct(c.runs[m]!.testAccuracy) })),
    }),
    barChartSvg({
      title: 'train time',
      x: 'seconds',
      bars: c.methods.map((m) => ({ name: m, value: c.runs[m]!.trainSeconds, color: color(m), label: `${c.runs[m]!.trainSeconds.toFixed(0)} s` })),
    }),
    barChartSvg({
      title: 'peak tensor memory',
      x: 'MiB',
      bars: c.methods.map((m) => ({
        name: m,
        value: mib(c.runs[m]!.peakTensorBytes),
        color: color(m),
        label: `${mib(c.runs[m]!.peakTensorBytes).toFixed(1)} MiB`,
      })),
    }),
    ...(r.pgd && eps !== undefined
      ? [
          barChartSvg({
            title: `accuracy under PGD, ε = ${eps}`,
            x: 'accuracy',
            domain: [0, 1],
            bars: c.methods
              .filter((m) => r.pgd![m])
              .map((m) => ({ name: m, value: r.pgd![m]![r.epsilons!.indexOf(eps)]!, color: color(m), label: pct(r.pgd![m]![r.epsilons!.indexOf(eps)]!) })),
          }),
        ]
      : []),
  ];
  const swept = Object.entries(sweeps).filter(([, rows]) => rows.length);
  const methodSeries = (f: (row: DiagnosticsRow) => number, arms = swept) =>
    arms.map(([m, rows]) => ({ name: `${m} (${samplesName(m)})`, points: rows.map((row) => [row.copies, f(row)] as [number, number]), ...style(m) }));
  const allK = [...new Set(swept.flatMap(([, rows]) => kTicks(rows)))].sort((a, b) => a - b);
  if (swept.length)
    summary.push(
      lineChartSvg({
        ...L.chart,
        title: 'gradient agreement: cosine to BPTT against K',
        x: 'K (copies or directions)',
        y: 'cosine',
        logX: true,
        xTicks: allK,
        yDomain: [0, 1],
        series: methodSeries((row) => row.cosine.mean),
      }),
    );

  const sections: Section[] = [
    { heading: 'Summary', figures: summary },
    {
      heading: 'Result',
      table: {
        header: ['method', 'test accuracy', 'train seconds', 'samples/s', 'peak tensor MiB'],
        rows: c.methods.map((m) => {
          const run = c.runs[m]!;
          return [m, pct(run.testAccuracy), run.trainSeconds.toFixed(1), run.samplesPerSecond.toFixed(1), mib(run.peakTensorBytes).toFixed(1)];
        }),
      },
    },
    {
      heading: 'Training curves',
      figures: curveFigures(
        Object.fromEntries(c.methods.map((m) => [m, { history: c.runs[m]!.history, log: logs[m]!, peakTensorBytes: c.runs[m]!.peakTensorBytes }])),
        color,
        dashed,
        L,
      ),
    },
  ];
  const figures: string[] = [];
  if (lrSweep?.length) {
    const by = (f: (row: DiagnosticsRow, layer: string) => number) =>
      layers.map((l) => ({ name: l, color: layerColor(l), points: lrSweep.map((row) => [row.copies, f(row, l)] as [number, number]) }));
    figures.push(
      lineChartSvg({
        ...L.chart,
        title: 'cosine(LR, BPTT) against copies K',
        x: 'copies K',
        y: 'cosine',
        logX: true,
        xTicks: kTicks(lrSweep),
        yDomain: [0, 1],
        series: [
          { name: 'all', color: layerColor('all'), points: lrSweep.map((row) => [row.copies, row.cosine.mean] as [number, number]) },
          ...by((row, l) => row.layers[l]!.cosine),
        ],
      }),
    );
    figures.push(
      lineChartSvg({
        ...L.chart,
        title: 'variance of one LR estimate against copies K',
        x: 'copies K',
        y: 'log10 variance',
        logX: true,
        xTicks: kTicks(lrSweep),
        series: by((row, l) => Math.log10(row.layers[l]!.variance)),
      }),
    );
  }
  const methodFigures: string[] = [];
  if (swept.length > 1) {
    // every sampling method on one axis: K counts LR's copies and FG's directions
    methodFigures.push(
      lineChartSvg({
        ...L.chart,
        title: 'cosine to the BPTT gradient against K, by method',
        x: 'K (copies or directions)',
        y: 'cosine',
        logX: true,
        xTicks: allK,
        yDomain: [0, 1],
        series: methodSeries((row) => row.cosine.mean),
      }),
    );
    methodFigures.push(
      lineChartSvg({
        ...L.chart,
        title: 'variance of one estimate against K, by method',
        x: 'K (copies or directions)',
        y: 'log10 variance',
        logX: true,
        xTicks: allK,
        series: methodSeries((row) => Math.log10(row.variance)),
      }),
    );
    // and layer by layer (with and without decorrelation, when the compare ran both)
    for (const layer of Object.keys(swept[0]![1][0]!.layers)) {
      const having = swept.filter(([, rows]) => rows[0]!.layers[layer]);
      methodFigures.push(
        lineChartSvg({
          ...L.chart,
          title: `${layer}: cosine to the BPTT gradient against K`,
          x: 'K (copies or directions)',
          y: 'cosine',
          logX: true,
          xTicks: allK,
          yDomain: [0, 1],
          series: methodSeries((row) => row.layers[layer]!.cosine, having),
        }),
      );
      methodFigures.push(
        lineChartSvg({
          ...L.chart,
          title: `${layer}: variance of one estimate against K`,
          x: 'K (copies or directions)',
          y: 'log10 variance',
          logX: true,
          xTicks: allK,
          series: methodSeries((row) => Math.log10(row.layers[layer]!.variance), having),
        }),
      );
    }
  }
  sections.push({
    heading: 'Gradient agreement (per-layer cosine, LR estimate vs BPTT surrogate gradient)',
    table: { header: ['parameter', cosHeader('cosine at initialisation'), '‖LR‖/‖BPTT‖'], rows: cosRows(c.gradients.initial) },
    figures,
  });
  if (c.gradients.trainedLR)
    sections.push({
      heading: 'Gradient agreement at the LR-trained weights',
      table: { header: ['parameter', cosHeader('cosine'), '‖LR‖/‖BPTT‖'], rows: cosRows(c.gradients.trainedLR) },
    });
  for (const [arm, rows] of Object.entries(c.gradients.trainedArms ?? {}))
    sections.push({
      heading: `Gradient agreement at the weights ${arm} trained`,
      table: { header: ['parameter', cosHeader('cosine'), `‖${arm}‖/‖BPTT‖`], rows: cosRows(rows) },
    });
  for (const [m, rows] of Object.entries(c.gradients.methods ?? {})) {
    sections.push({
      heading: `Gradient agreement: ${m} estimate vs BPTT surrogate gradient`,
      table: { header: ['parameter', cosHeader('cosine at initialisation'), `‖${m}‖/‖BPTT‖`], rows: cosRows(rows) },
    });
  }
  if (methodFigures.length)
    sections.push({
      heading: 'Every sampling estimator against its number of samples K (initialisation, one batch)',
      ...(c.arms
        ? { text: "Runs named +decor decorrelate their layers' inputs; each is compared with the BPTT gradient of its own (decorrelated) network." }
        : {}),
      figures: methodFigures,
    });
  if (r.epsilons) {
    const levels = r.epsilons;
    const curves = (title: string, table: Record<string, number[]> | undefined, xs: number[], x: string) =>
      table
        ? [
            lineChartSvg({
              ...L.chart,
              title,
              x,
              y: 'accuracy',
              yDomain: [0, 1],
              xTicks: xs,
              series: Object.entries(table).map(([name, acc]) => {
                const transfer = transferOf(name)?.attacked;
                const own = name in c.runs ? name : transfer && transfer in c.runs ? transfer : undefined;
                return {
                  name: robustnessLabel(name),
                  points: acc.map((a, i) => [xs[i]!, a] as [number, number]),
                  ...(own ? { color: color(own), ...(transfer ? { dashed: true } : dashed(own) ? { dashed: true } : {}) } : {}),
                };
              }),
            }),
          ]
        : [];
    sections.push({
      heading: `Robustness (${r.samples} test images)`,
      figures: [
        ...curves('FGSM', r.fgsm, levels, 'ε'),
        ...curves('PGD', r.pgd, levels, 'ε'),
        ...curves('PGD transfer (crafted on the other model)', r.transfer, levels, 'ε'),
        ...curves('Gaussian noise', r.gaussian, r.noiseLevels ?? [], 'σ'),
      ],
    });
  } else if (r.skipped) sections.push({ heading: 'Robustness', text: r.skipped });
  const model = c.methods.find((m) => existsSync(path.join(runDir, m, MODEL_FILE)));
  if (model) {
    const net = await loadNetwork(path.join(runDir, model, MODEL_FILE));
    try {
      sections.push(
        ...sampleSections(await sampleFigures(net, { ...c.config, method: armMethod(model) as TrainConfig['method'] }, 0), `${model} model, test sample 0`, L),
      );
    } finally {
      net.dispose();
    }
  }
  return {
    title: `spikelr compare: ${c.methods.join(' vs ')} on ${c.config.dataset}`,
    subtitle: `${c.config.conv ? `conv ${c.config.conv}, ` : ''}hidden ${c.config.hidden.join('-') || 'none'} ${c.config.neuron}, ${c.config.steps} steps, ${c.config.encoding} input, ${c.config.epochs} epoch(s), seed ${c.config.seed}`,
    sections,
  };
}
