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
import { SNAPSHOT_DIR, testSeed } from '../learning/trainer.js';
import { histogramSvg, type LineChart } from '../../viz/charts.js';
import { membraneSvg, type Trace } from '../../viz/membrane.js';
import { neuronRates, orderNeurons, rasterFromRecording, rasterSvg, type NeuronOrder, type Raster } from '../../viz/raster.js';
import { htmlReport, type Section } from '../../viz/report.js';
import type { TrainConfig } from './config.js';
import { loadSplit, noiseOf } from './recipe.js';
import { loadTrained } from './train.js';

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
    ...(o.noise ? { noise: noiseOf(config, net), seed: config.seed } : {}),
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
export interface Layout {
  readonly chart: Pick<LineChart, 'width' | 'legend'>;
  readonly traces: number;
}
export const SCREEN: Layout = { chart: {}, traces: 560 };
export const PAPER: Layout = { chart: { width: 380, legend: 'below' }, traces: 380 };

export function sampleSections(f: SampleFigures, title: string, L: Layout = SCREEN): Section[] {
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
