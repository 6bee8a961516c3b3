/** `spikelr raster` and `spikelr report`: figures of a model and of train/compare runs. */
import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { check, SpikelrError } from '../errors.js';
import { subset } from '../data/dataset.js';
import { isSpiking, modelOf } from '../neurons/params.js';
import { loadNetwork } from '../sim/io.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../sim/random.js';
import { MODEL_FILE, METRICS_LOG, testSeed } from '../learning/trainer.js';
import type { DiagnosticsRow } from '../learning/diagnostics.js';
import { schemeTableau10 } from 'd3';
import { histogramSvg, lineChartSvg, type Series } from '../../viz/charts.js';
import { membraneSvg, type Trace } from '../../viz/membrane.js';
import { rasterFromRecording, rasterSvg, type Raster } from '../../viz/raster.js';
import { htmlReport, type Section } from '../../viz/report.js';
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
export async function sampleFigures(net: Network, config: TrainConfig, sample: number, o: { readonly noise?: boolean; readonly traces?: number } = {}): Promise<SampleFigures> {
  const test = await loadSplit({ ...config, testLimit: sample + 1 }, 'test');
  check(sample < test.count, () => `--sample ${sample}: the ${config.dataset} test set has ${test.count} samples`);
  const one = subset(test, Int32Array.of(sample));
  const input = one.batch([0], streamKey(testSeed(config.seed), 0xe7a1, sample));
  const spiking = net.layers.filter((l) => l.neuron && isSpiking(l.neuron)).map((l) => l.name);
  // a model with a moving threshold (ALIF, an equation neuron) records it, and the traces draw it
  const fieldsOf = (name: string) => {
    const neuron = net.layer(name).neuron!;
    return ['spikes', 'membrane', ...modelOf(neuron).fields(neuron as never).filter((f) => f === 'threshold')];
  };
  const result = net.run(input, { record: Object.fromEntries(spiking.map((n) => [n, fieldsOf(n)])), ...(o.noise ? { noise: noiseOf(config), seed: config.seed } : {}) });
  try {
    const label = one.labels[0]!;
    const raster = rasterFromRecording(result, 0, { input, caption: `test sample ${sample} (label ${label})` });
    const predicted = tf.tidy(() => tf.argMax(tf.sum(result.output, 1), -1).dataSync()[0]!);
    const rates = raster.layers.filter((l) => l.name !== 'input').map((l) => {
      const counts = new Float32Array(l.neurons);
      for (const n of l.units) counts[n]! += 1 / l.steps;
      return { layer: l.name, rates: counts };
    });
    // membrane traces of the most active neurons of the first spiking layer
    const traces: Trace[] = [];
    const first = spiking[0];
    if (first) {
      const layer = net.layer(first);
      const rec = result.records[first]!;
      const steps = rec.membrane!.shape[1]!, neurons = rec.membrane!.size / steps;
      const u = rec.membrane!.dataSync(), s = rec.spikes!.dataSync();
      const moving = rec['threshold']?.dataSync();
      const learned = layer.params['threshold']?.dataSync();
      const base = (layer.neuron as { threshold?: number }).threshold ?? 0;
      const order = Array.from(rates[0]!.rates.keys()).sort((a, b) => rates[0]!.rates[b]! - rates[0]!.rates[a]! || a - b).slice(0, o.traces ?? 4);
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

function sampleSections(f: SampleFigures, title: string): Section[] {
  return [
    { heading: `${title}: spike raster`, text: `Predicted class ${f.predicted}, label ${f.label}. Scroll to zoom in time, drag to pan, hover for neuron and step.`, rasters: [f.raster] },
    ...(f.traces.length ? [{ heading: `${title}: membrane traces`, text: 'The most active neurons of the first spiking layer; dashed: threshold; dots: spikes.', figures: [membraneSvg(f.traces, { width: 560, panelHeight: 110 })] }] : []),
    { heading: `${title}: firing rates`, figures: f.rates.map((r) => histogramSvg({ title: `${r.layer}: rate per neuron`, x: 'spikes per step', values: r.rates, domain: [0, 1], bins: 20 })) },
  ];
}

/** `spikelr raster`: an HTML page (and optionally an SVG) of one test sample's spikes. */
export async function rasterCommand(o: { readonly target: string; readonly flags: Partial<TrainConfig>; readonly config?: string; readonly sample: number; readonly out?: string; readonly svg?: string; readonly noise: boolean; readonly layers?: readonly string[] }): Promise<string[]> {
  check(o.out !== undefined || o.svg !== undefined, () => 'raster: give --out <file.html> and/or --svg <file.svg>');
  const { net, config } = await loadTrained(o.target, o.flags, o.config);
  try {
    let figures = await sampleFigures(net, config, o.sample, { noise: o.noise });
    if (o.layers) {
      const known = figures.raster.layers.map((l) => l.name);
      for (const name of o.layers) check(known.includes(name), () => `--layers: no layer '${name}' in the raster; it has ${known.join(', ')}`);
      figures = { ...figures, raster: { ...figures.raster, layers: figures.raster.layers.filter((l) => o.layers!.includes(l.name)) } };
    }
    const written: string[] = [];
    if (o.svg) {
      await fs.writeFile(o.svg, rasterSvg(figures.raster, { width: 720, rowHeight: 1 }));
      written.push(o.svg);
    }
    if (o.out) {
      await fs.writeFile(o.out, htmlReport({ title: `spikelr raster: ${path.basename(o.target)}`, subtitle: `${config.dataset} test sample ${o.sample}, ${config.steps} steps, ${config.encoding} input${o.noise ? `, escape noise ${config.noise}` : ''}`, sections: sampleSections(figures, `sample ${o.sample}`) }));
      written.push(o.out);
    }
    return written;
  } finally {
    net.dispose();
  }
}

interface History {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testAccuracy: number;
  readonly trainSeconds: number;
  readonly peakTensorBytes: number;
  readonly validationAccuracy?: number;
}

/** Training curves of one or more runs: loss and accuracy against epoch and against train time. */
function curveFigures(runs: Record<string, readonly History[]>, steps?: Record<string, readonly [number, number][]>, style: Style = () => ({})): string[] {
  const series = (f: (h: History) => [number, number]) => Object.entries(runs).map(([name, h]): Series => ({ name, points: h.map(f), ...style(name) }));
  return [
    lineChartSvg({ title: 'test accuracy by epoch', x: 'epoch', y: 'test accuracy', series: series((h) => [h.epoch, h.testAccuracy]) }),
    lineChartSvg({ title: 'test accuracy by train time', x: 'train seconds', y: 'test accuracy', series: series((h) => [h.trainSeconds, h.testAccuracy]) }),
    lineChartSvg({ title: 'train loss by epoch', x: 'epoch', y: 'train loss', series: series((h) => [h.epoch, h.trainLoss]) }),
    lineChartSvg({ title: 'peak tensor memory by epoch', x: 'epoch', y: 'MiB', series: series((h) => [h.epoch, h.peakTensorBytes / 2 ** 20]) }),
    ...(steps && Object.values(steps).some((s) => s.length > 1) ? [lineChartSvg({ title: 'train loss by step', x: 'step', y: 'loss', series: Object.entries(steps).map(([name, points]) => ({ name, points, ...style(name) })) })] : []),
  ];
}

async function stepLosses(runDir: string): Promise<[number, number][]> {
  const file = path.join(runDir, METRICS_LOG);
  if (!existsSync(file)) return [];
  return (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((r) => r.type === 'step').map((r) => [r.step, r.loss]);
}

/** `spikelr report`: an HTML report of a train run (metrics.json) or a compare run (compare.json). */
export async function reportCommand(runDir: string, out: string): Promise<void> {
  check(existsSync(runDir), () => `report: ${runDir}: no such directory`);
  const compareFile = path.join(runDir, 'compare.json'), metricsFile = path.join(runDir, METRICS_FILE);
  let html: string;
  if (existsSync(compareFile)) html = await compareReport(runDir, JSON.parse(await fs.readFile(compareFile, 'utf8')));
  else if (existsSync(metricsFile)) html = await trainReport(runDir, JSON.parse(await fs.readFile(metricsFile, 'utf8')));
  else throw new SpikelrError(`report: ${runDir} has neither metrics.json (spikelr train) nor compare.json (spikelr compare); is the run finished?`);
  await fs.writeFile(out, html);
}

async function trainReport(runDir: string, metrics: { method: string; history: History[]; testAccuracy: number; trainSeconds: number; samplesPerSecond: number; peakTensorBytes: number; stopped: string }): Promise<string> {
  const { net, config } = await loadTrained(runDir, {});
  try {
    const figures = await sampleFigures(net, config, 0);
    return htmlReport({
      title: `spikelr train: ${path.basename(runDir)}`,
      subtitle: `${config.method} on ${config.dataset}: ${config.conv ? `conv ${config.conv}, ` : ''}hidden ${config.hidden.join('-') || 'none'} ${config.neuron}, ${config.steps} steps, ${config.encoding} input, seed ${config.seed}`,
      sections: [
        { heading: 'Result', table: { header: ['test accuracy', 'train seconds', 'samples/s', 'peak tensor MiB', 'epochs', 'stopped'], rows: [[pct(metrics.testAccuracy), metrics.trainSeconds.toFixed(1), metrics.samplesPerSecond.toFixed(1), (metrics.peakTensorBytes / 2 ** 20).toFixed(1), metrics.history.length, metrics.stopped]] } },
        { heading: 'Training curves', figures: curveFigures({ [config.method]: metrics.history }, { [config.method]: await stepLosses(runDir) }) },
        ...sampleSections(figures, 'test sample 0'),
      ],
    });
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
    initial: { parameter: string; mean: number; sd: number; normRatio: number }[];
    copies?: DiagnosticsRow[];
    sweeps?: Record<string, DiagnosticsRow[]>;
    trainedLR?: { parameter: string; mean: number; sd: number; normRatio: number }[];
    /** LR arms after the first (a compare of decorrelation variants): the estimate against BPTT at the weights each trained. */
    trainedArms?: Record<string, { parameter: string; mean: number; sd: number; normRatio: number }[]>;
    /** Every other compared method's gradient against BPTT's at initialisation. */
    methods?: Record<string, { parameter: string; mean: number; sd: number; normRatio: number }[]>;
  };
  robustness: { epsilons?: number[]; fgsm?: Record<string, number[]>; pgd?: Record<string, number[]>; transfer?: Record<string, number[]>; noiseLevels?: number[]; gaussian?: Record<string, number[]>; samples?: number; skipped?: string };
}

/** A series' colour and dash by its run's name. */
type Style = (name: string) => Pick<Series, 'color' | 'dashed'>;

async function compareReport(runDir: string, c: CompareJson): Promise<string> {
  // one colour per method in every chart; a decorrelated arm dashed in its method's colour
  const methodOrder = [...new Set(c.methods.map(armMethod))];
  const style: Style = (arm) => ({ color: schemeTableau10[methodOrder.indexOf(armMethod(arm)) % 10]!, ...(arm.includes('+') ? { dashed: true } : {}) });
  const sections: Section[] = [
    { heading: 'Result', table: { header: ['method', 'test accuracy', 'train seconds', 'samples/s', 'peak tensor MiB'], rows: c.methods.map((m) => { const r = c.runs[m]!; return [m, pct(r.testAccuracy), r.trainSeconds.toFixed(1), r.samplesPerSecond.toFixed(1), (r.peakTensorBytes / 2 ** 20).toFixed(1)]; }) } },
    { heading: 'Training curves', figures: curveFigures(Object.fromEntries(c.methods.map((m) => [m, c.runs[m]!.history])), Object.fromEntries(await Promise.all(c.methods.map(async (m) => [m, await stepLosses(path.join(runDir, m))] as const))), style) },
  ];
  const cosRows = (rows: CompareJson['gradients']['initial']) => rows.map((l) => [l.parameter, `${l.mean.toFixed(3)} ± ${l.sd.toFixed(3)}`, l.normRatio.toFixed(3)]);
  const figures: string[] = [];
  const sweeps = sweepsOf(c.gradients);
  const lrSweep = sweeps['lr'];
  if (lrSweep?.length) {
    const layers = Object.keys(lrSweep[0]!.layers);
    const by = (f: (row: DiagnosticsRow, layer: string) => number) => layers.map((l) => ({ name: l, points: lrSweep.map((row) => [row.copies, f(row, l)] as [number, number]) }));
    figures.push(lineChartSvg({ title: 'cosine(LR, BPTT) against copies K', x: 'copies K', y: 'cosine', logX: true, yDomain: [0, 1], series: [{ name: 'all', points: lrSweep.map((row) => [row.copies, row.cosine.mean] as [number, number]) }, ...by((row, l) => row.layers[l]!.cosine)] }));
    figures.push(lineChartSvg({ title: 'variance of one LR estimate against copies K', x: 'copies K', y: 'log10 variance', logX: true, series: by((row, l) => Math.log10(row.layers[l]!.variance)) }));
  }
  const methodFigures: string[] = [];
  const swept = Object.entries(sweeps).filter(([, rows]) => rows.length);
  if (swept.length > 1) {
    // every sampling method on one axis: K counts LR's copies and FG's directions
    const series = (f: (row: DiagnosticsRow) => number, arms = swept) => arms.map(([m, rows]) => ({ name: `${m} (${samplesName(m)})`, points: rows.map((row) => [row.copies, f(row)] as [number, number]), ...style(m) }));
    methodFigures.push(lineChartSvg({ title: 'cosine to the BPTT gradient against K, by method', x: 'K (copies or directions)', y: 'cosine', logX: true, yDomain: [0, 1], series: series((row) => row.cosine.mean) }));
    methodFigures.push(lineChartSvg({ title: 'variance of one estimate against K, by method', x: 'K (copies or directions)', y: 'log10 variance', logX: true, series: series((row) => Math.log10(row.variance)) }));
    // and layer by layer (with and without decorrelation, when the compare ran both)
    for (const layer of Object.keys(swept[0]![1][0]!.layers)) {
      const having = swept.filter(([, rows]) => rows[0]!.layers[layer]);
      methodFigures.push(lineChartSvg({ title: `${layer}: cosine to the BPTT gradient against K`, x: 'K (copies or directions)', y: 'cosine', logX: true, yDomain: [0, 1], series: series((row) => row.layers[layer]!.cosine, having) }));
      methodFigures.push(lineChartSvg({ title: `${layer}: variance of one estimate against K`, x: 'K (copies or directions)', y: 'log10 variance', logX: true, series: series((row) => Math.log10(row.layers[layer]!.variance), having) }));
    }
  }
  sections.push({ heading: 'Gradient agreement (per-layer cosine, LR estimate vs BPTT surrogate gradient)', table: { header: ['parameter', 'cosine at initialisation', '‖LR‖/‖BPTT‖'], rows: cosRows(c.gradients.initial) }, figures });
  if (c.gradients.trainedLR) sections.push({ heading: 'Gradient agreement at the LR-trained weights', table: { header: ['parameter', 'cosine', '‖LR‖/‖BPTT‖'], rows: cosRows(c.gradients.trainedLR) } });
  for (const [arm, rows] of Object.entries(c.gradients.trainedArms ?? {})) sections.push({ heading: `Gradient agreement at the weights ${arm} trained`, table: { header: ['parameter', 'cosine', `‖${arm}‖/‖BPTT‖`], rows: cosRows(rows) } });
  for (const [m, rows] of Object.entries(c.gradients.methods ?? {})) {
    sections.push({ heading: `Gradient agreement: ${m} estimate vs BPTT surrogate gradient`, table: { header: ['parameter', 'cosine at initialisation', `‖${m}‖/‖BPTT‖`], rows: cosRows(rows) } });
  }
  if (methodFigures.length) sections.push({ heading: 'Every sampling estimator against its number of samples K (initialisation, one batch)', ...(c.arms ? { text: 'Runs named +decor decorrelate their layers\' inputs; each is compared with the BPTT gradient of its own (decorrelated) network.' } : {}), figures: methodFigures });
  const r = c.robustness;
  if (r.epsilons) {
    const eps = r.epsilons;
    const curves = (title: string, table: Record<string, number[]> | undefined, levels: number[], x: string) =>
      table ? [lineChartSvg({ title, x, y: 'accuracy', yDomain: [0, 1], series: Object.entries(table).map(([name, acc]) => ({ name, points: acc.map((a, i) => [levels[i]!, a] as [number, number]), ...(name in c.runs ? style(name) : {}) })) })] : [];
    sections.push({
      heading: `Robustness (${r.samples} test images)`,
      figures: [...curves('FGSM', r.fgsm, eps, 'ε'), ...curves('PGD', r.pgd, eps, 'ε'), ...curves('PGD transfer (crafted on the other model)', r.transfer, eps, 'ε'), ...curves('Gaussian noise', r.gaussian, r.noiseLevels ?? [], 'σ')],
    });
  } else if (r.skipped) sections.push({ heading: 'Robustness', text: r.skipped });
  const model = c.methods.find((m) => existsSync(path.join(runDir, m, MODEL_FILE)));
  if (model) {
    const net = await loadNetwork(path.join(runDir, model, MODEL_FILE));
    try {
      sections.push(...sampleSections(await sampleFigures(net, { ...c.config, method: armMethod(model) as TrainConfig['method'] }, 0), `${model} model, test sample 0`));
    } finally {
      net.dispose();
    }
  }
  return htmlReport({ title: `spikelr compare: ${c.methods.join(' vs ')} on ${c.config.dataset}`, subtitle: `${c.config.conv ? `conv ${c.config.conv}, ` : ''}hidden ${c.config.hidden.join('-') || 'none'} ${c.config.neuron}, ${c.config.steps} steps, ${c.config.encoding} input, ${c.config.epochs} epoch(s), seed ${c.config.seed}`, sections });
}
