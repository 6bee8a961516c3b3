/** `spikelr raster` and `spikelr report`: figures of a model and of train/compare runs. */
import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fs } from 'node:fs';
import { writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { check, SpikelrError } from '../core/errors.js';
import { subset } from '../data/dataset.js';
import { isSpiking, modelOf } from '../neurons/params.js';
import { loadNetwork } from '../io/network-file.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import { MODEL_FILE, METRICS_LOG, SNAPSHOT_DIR, testSeed } from '../learning/trainer.js';
import type { DiagnosticsRow } from '../learning/diagnostics.js';
import { barChartSvg, histogramSvg, lineChartSvg, type LineChart, type Series } from '../../viz/charts.js';
import { layerPalette, palette } from '../../viz/palette.js';
import { membraneSvg, type Trace } from '../../viz/membrane.js';
import { neuronRates, orderNeurons, rasterFromRecording, rasterSvg, type NeuronOrder, type Raster } from '../../viz/raster.js';
import { htmlReport, type Section } from '../../viz/report.js';
import { writeFigures, type FigureStyle } from './figures.js';
import type { TrainConfig } from './config.js';
import { loadSplit, noiseOf } from './recipe.js';
import { loadTrained, METRICS_FILE } from './train.js';
import { armMethod, samplesName, sweepsOf } from './compare.js';

export interface SampleFigures {
  readonly raster: Raster;
  readonly traces: Trace[];
  /** Firing rate of every neuron of each spiking layer over the sample. */
  readonly rates: { readonly layer: string; readonly rates: Float32Array }[];
  readonly predicted: number;
  readonly label: number;
}

/** Runs test sample `sample` through the network, recording every spiking layer. */
export async function sampleFigures(
  net: Network,
  config: TrainConfig,
  sample: number,
  o: { readonly noise?: boolean; readonly traces?: number; readonly order?: NeuronOrder; readonly neurons?: readonly number[] } = {},
): Promise<SampleFigures> {
  const test = await loadSplit({ ...config, testLimit: sample + 1 }, 'test');
  check(sample < test.count, () => `--sample ${sample}: the ${config.dataset} test set has ${test.count} samples`);
  const one = subset(test, Int32Array.of(sample));
  const input = one.batch([0], streamKey(testSeed(config.seed), 0xe7a1, sample));
  const spiking = net.layers.filter((l) => l.neuron && isSpiking(l.neuron)).map((l) => l.name);
  // a model with a moving threshold (ALIF, an equation neuron) records it, and the traces draw it
  const fieldsOf = (name: string) => {
    const neuron = net.layer(name).neuron!;
    return [
      'spikes',
      'membrane',
      ...modelOf(neuron)
        .fields(neuron as never)
        .filter((f) => f === 'threshold'),
    ];
  };
  const result = net.run(input, {
    record: Object.fromEntries(spiking.map((n) => [n, fieldsOf(n)])),
    ...(o.noise ? { noise: noiseOf(config), seed: config.seed } : {}),
  });
  try {
    const label = one.labels[0]!;
    const recorded = rasterFromRecording(result, 0, { input, caption: `test sample ${sample} (label ${label})` });
    // the input keeps its own order (pixels, channels); the neurons take the one asked for
    const raster = { ...recorded, layers: recorded.layers.map((l) => (l.name === 'input' ? l : orderNeurons(l, o.order ?? 'index'))) };
    const predicted = tf.tidy(() => tf.argMax(tf.sum(result.output, 1), -1).dataSync()[0]!);
    const rates = raster.layers.filter((l) => l.name !== 'input').map((l) => ({ layer: l.name, rates: neuronRates(l) }));
    // membrane traces of informative neurons of the first spiking layer (or those named)
    const traces: Trace[] = [];
    const first = spiking[0];
    if (first) {
      const layer = net.layer(first);
      const rec = result.records[first]!;
      const steps = rec.membrane!.shape[1]!,
        neurons = rec.membrane!.size / steps;
      const u = rec.membrane!.dataSync(),
        s = rec.spikes!.dataSync();
      const moving = rec['threshold']?.dataSync();
      const learned = layer.params['threshold']?.dataSync();
      // the model's own threshold (a deployed neuron answers with the one it wraps)
      const base = modelOf(layer.neuron!).learnable(layer.neuron as never)['threshold'] ?? (layer.neuron as { threshold?: number }).threshold ?? 0;
      for (const n of o.neurons ?? []) check(Number.isInteger(n) && n >= 0 && n < neurons, () => `--neurons: ${first} has neurons 0…${neurons - 1}, got ${n}`);
      const order = o.neurons ?? informativeNeurons(rates[0]!.rates, u, steps, neurons, o.traces ?? 4);
      for (const n of order) {
        traces.push({
          label: `${first} neuron ${n}${moving ? ' (adaptive threshold)' : ''}`,
          membrane: Float32Array.from({ length: steps }, (_, t) => u[t * neurons + n]!),
          threshold: moving ? Float32Array.from({ length: steps }, (_, t) => moving[t * neurons + n]!) : (learned?.[n] ?? base),
          spikes: Float32Array.from({ length: steps }, (_, t) => s[t * neurons + n]!),
        });
      }
    }
    return { raster, traces, rates, predicted, label };
  } finally {
    result.dispose();
    input.dispose();
  }
}

/**
 * Neurons whose traces say something: those that cross the threshold now and then (a rate in
 * (0, 0.6], nearest 0.25 first), then the silent ones whose membrane varies most; never the
 * saturated ones that fire every step.
 */
export function informativeNeurons(rates: Float32Array, membrane: ArrayLike<number>, steps: number, neurons: number, count: number): number[] {
  const variance = (n: number) => {
    let s = 0,
      s2 = 0;
    for (let t = 0; t < steps; t++) {
      const u = membrane[t * neurons + n]!;
      s += u;
      s2 += u ** 2;
    }
    return s2 / steps - (s / steps) ** 2;
  };
  const all = Array.from({ length: neurons }, (_, n) => n);
  const firing = all.filter((n) => rates[n]! > 0 && rates[n]! <= 0.6).sort((a, b) => Math.abs(rates[a]! - 0.25) - Math.abs(rates[b]! - 0.25) || a - b);
  const silent = all
    .filter((n) => rates[n] === 0)
    .map((n) => [n, variance(n)] as const)
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .map(([n]) => n);
  return [...firing, ...silent].slice(0, count);
}

/** Figure sizes: the screen's, or a journal column's (`--style paper`: charts 380 px wide, 85 mm at 7 pt, legends below). */
interface Layout {
  readonly chart: Pick<LineChart, 'width' | 'legend'>;
  readonly traces: number;
}
const SCREEN: Layout = { chart: {}, traces: 560 };
const PAPER: Layout = { chart: { width: 380, legend: 'below' }, traces: 380 };

function sampleSections(f: SampleFigures, title: string, L: Layout = SCREEN): Section[] {
  return [
    {
      heading: `${title}: spike raster`,
      text: `Predicted class ${f.predicted}, label ${f.label}. Right of each raster: each neuron's firing rate; below it: the fraction of the layer spiking at each step. Scroll to zoom in time, drag to pan, hover for neuron and step.`,
      rasters: [f.raster],
    },
    ...(f.traces.length
      ? [
          {
            heading: `${title}: membrane traces`,
            text: 'Neurons of the first spiking layer that cross their threshold now and then (or, if none do, whose membrane varies most); dashed: the threshold; dots: spikes.',
            figures: [membraneSvg(f.traces, { width: L.traces, panelHeight: 110 })],
          },
        ]
      : []),
    {
      heading: `${title}: firing rates`,
      figures: f.rates.map((r) => histogramSvg({ title: `${r.layer}: rate per neuron`, x: 'spikes per step', values: r.rates, domain: [0, 1], bins: 20 })),
    },
  ];
}

/** `spikelr raster`: an HTML page (and optionally an SVG) of one test sample's spikes. */
export async function rasterCommand(o: {
  readonly target: string;
  readonly flags: Partial<TrainConfig>;
  readonly config?: string;
  readonly sample: number;
  readonly out?: string;
  readonly svg?: string;
  readonly noise: boolean;
  readonly layers?: readonly string[];
  readonly order?: NeuronOrder;
  readonly neurons?: readonly number[];
  readonly overTraining?: boolean;
}): Promise<string[]> {
  check(o.out !== undefined || o.svg !== undefined, () => 'raster: give --out <file.html> and/or --svg <file.svg>');
  if (o.overTraining) return filmCommand(o);
  const { net, config } = await loadTrained(o.target, o.flags, o.config);
  try {
    let figures = await sampleFigures(net, config, o.sample, {
      noise: o.noise,
      ...(o.order ? { order: o.order } : {}),
      ...(o.neurons ? { neurons: o.neurons } : {}),
    });
    if (o.layers) {
      const known = figures.raster.layers.map((l) => l.name);
      for (const name of o.layers) check(known.includes(name), () => `--layers: no layer '${name}' in the raster; it has ${known.join(', ')}`);
      figures = { ...figures, raster: { ...figures.raster, layers: figures.raster.layers.filter((l) => o.layers!.includes(l.name)) } };
    }
    const written: string[] = [];
    if (o.svg) {
      await writeFileAtomic(o.svg, rasterSvg(figures.raster, { width: 720, rowHeight: 1 }));
      written.push(o.svg);
    }
    if (o.out) {
      await writeFileAtomic(
        o.out,
        htmlReport({
          title: `spikelr raster: ${path.basename(o.target)}`,
          subtitle: `${config.dataset} test sample ${o.sample}, ${config.steps} steps, ${config.encoding} input${o.noise ? `, escape noise ${config.noise}` : ''}`,
          sections: sampleSections(figures, `sample ${o.sample}`),
        }),
      );
      written.push(o.out);
    }
    return written;
  } finally {
    net.dispose();
  }
}

/** A run's snapshots (`--snapshots true`), in step order. */
async function snapshotsOf(runDir: string): Promise<{ step: number; file: string }[]> {
  const dir = path.join(runDir, SNAPSHOT_DIR);
  const files = existsSync(dir) ? (await fs.readdir(dir)).filter((f) => /^step-\d+\.safetensors$/.test(f)) : [];
  if (files.length === 0)
    throw new SpikelrError(`raster --over-training: ${runDir} kept no snapshots; train it with --snapshots true (a network every --checkpoint-every steps)`);
  return files.map((f) => ({ step: Number(/\d+/.exec(f)![0]), file: path.join(dir, f) })).sort((a, b) => a.step - b.step);
}

/**
 * `spikelr raster RUN --over-training`: one test sample's raster through every snapshot of a run,
 * as a film (a slider and a play button) and side by side. Every frame keeps the final network's
 * neuron order, so a neuron stays in its row as it learns.
 */
async function filmCommand(o: Parameters<typeof rasterCommand>[0]): Promise<string[]> {
  check(
    existsSync(o.target) && (await fs.stat(o.target)).isDirectory(),
    () => `raster --over-training: ${o.target} must be a run directory (its snapshots/ folder holds the frames)`,
  );
  check(o.svg === undefined, () => 'raster --over-training draws a film into the HTML page: give --out, not --svg');
  const shots = await snapshotsOf(o.target);
  const { net: final, config } = await loadTrained(o.target, o.flags, o.config);
  final.dispose();
  const frames: { step: number; raster: Raster }[] = [];
  for (const shot of shots) {
    const net = await loadNetwork(shot.file);
    try {
      const f = await sampleFigures(net, config, o.sample, { noise: o.noise, traces: 0 });
      frames.push({ step: shot.step, raster: { ...f.raster, layers: f.raster.layers.filter((l) => !o.layers || o.layers.includes(l.name)) } });
    } finally {
      net.dispose();
    }
  }
  const known = frames[0]!.raster.layers.map((l) => l.name);
  for (const name of o.layers ?? []) check(known.includes(name), () => `--layers: no layer '${name}' in the raster; it has ${known.join(', ')}`);
  // the final network's order for every frame
  const last = frames.at(-1)!.raster.layers.map((l) => (l.name === 'input' ? l : orderNeurons(l, o.order ?? 'index')));
  const svgs = frames.map(({ step, raster }) => ({
    label: `step ${step}`,
    svg: rasterSvg(
      { caption: `step ${step}`, layers: raster.layers.map((l, i) => (last[i]!.rows ? { ...l, rows: last[i]!.rows! } : l)) },
      { width: 720, rowHeight: 1 },
    ),
  }));
  await writeFileAtomic(
    o.out!,
    htmlReport({
      title: `spikelr raster over training: ${path.basename(o.target)}`,
      subtitle: `${config.dataset} test sample ${o.sample}, ${config.steps} steps, ${config.encoding} input${o.noise ? `, escape noise ${config.noise}` : ''}; ${shots.length} snapshots`,
      sections: [
        {
          heading: `test sample ${o.sample} over training`,
          text: "Drag the slider or press play to step through the snapshots; rows keep the final network's neuron order.",
          film: { frames: svgs },
        },
      ],
    }),
  );
  return [o.out!];
}

interface History {
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
interface RunLog {
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

async function runLog(runDir: string): Promise<RunLog> {
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
function curveFigures(
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
export async function reportCommand(
  runDir: string,
  o: { readonly out?: string; readonly figures?: string; readonly style?: FigureStyle; readonly pdf?: boolean },
): Promise<string[]> {
  check(o.out !== undefined || o.figures !== undefined, () => 'report: give --out <file.html> and/or --figures <dir>');
  check(existsSync(runDir), () => `report: ${runDir}: no such directory`);
  const compareFile = path.join(runDir, 'compare.json'),
    metricsFile = path.join(runDir, METRICS_FILE);
  let report: Report;
  const layout = o.style === 'paper' ? PAPER : SCREEN;
  if (existsSync(compareFile)) report = await compareReport(runDir, JSON.parse(await fs.readFile(compareFile, 'utf8')), layout);
  else if (existsSync(metricsFile)) report = await trainReport(runDir, JSON.parse(await fs.readFile(metricsFile, 'utf8')), layout);
  else throw new SpikelrError(`report: ${runDir} has neither metrics.json (spikelr train) nor compare.json (spikelr compare); is the run finished?`);
  const written: string[] = [];
  if (o.out) {
    await writeFileAtomic(o.out, htmlReport({ ...report, ...(o.style === 'paper' ? { style: 'paper' as const } : {}) }));
    written.push(o.out);
  }
  if (o.figures) written.push(...(await writeFigures(figuresOf(report.sections), o.figures, { style: o.style ?? 'screen', pdf: o.pdf ?? true })));
  return written;
}

type Report = Parameters<typeof htmlReport>[0];

/** Every figure of a report's sections as an SVG document: its charts, then its rasters. */
function figuresOf(sections: readonly Section[]): string[] {
  return sections.flatMap((s) => [...(s.figures ?? []), ...(s.rasters ?? []).map((r) => rasterSvg(r, { width: 720, rowHeight: 1 }))]);
}

async function trainReport(
  runDir: string,
  metrics: {
    method: string;
    history: History[];
    testAccuracy: number;
    trainSeconds: number;
    samplesPerSecond: number;
    peakTensorBytes: number;
    stopped: string;
  },
  L: Layout = SCREEN,
): Promise<Report> {
  const { net, config } = await loadTrained(runDir, {});
  try {
    const figures = await sampleFigures(net, config, 0);
    return {
      title: `spikelr train: ${path.basename(runDir)}`,
      subtitle: `${config.method} on ${config.dataset}: ${config.conv ? `conv ${config.conv}, ` : ''}hidden ${config.hidden.join('-') || 'none'} ${config.neuron}, ${config.steps} steps, ${config.encoding} input, seed ${config.seed}`,
      sections: [
        {
          heading: 'Result',
          table: {
            header: ['test accuracy', 'train seconds', 'samples/s', 'peak tensor MiB', 'epochs', 'stopped'],
            rows: [
              [
                pct(metrics.testAccuracy),
                metrics.trainSeconds.toFixed(1),
                metrics.samplesPerSecond.toFixed(1),
                (metrics.peakTensorBytes / 2 ** 20).toFixed(1),
                metrics.history.length,
                metrics.stopped,
              ],
            ],
          },
        },
        {
          heading: 'Training curves',
          figures: curveFigures(
            { [config.method]: { history: metrics.history, log: await runLog(runDir), peakTensorBytes: metrics.peakTensorBytes } },
            palette([config.method]),
            () => false,
            L,
          ),
        },
        ...sampleSections(figures, 'test sample 0', L),
      ],
    };
  } finally {
    net.dispose();
  }
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

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

async function compareReport(runDir: string, c: CompareJson, L: Layout = SCREEN): Promise<Report> {
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
