/**
 * Spike rasters: neurons × time, one panel per layer, one mark per spike. In SVG every spike is a
 * `<rect class="spike">` carrying its step and neuron (`data-t`, `data-n`) for hover and tests; the
 * HTML report draws large rasters to canvas instead.
 */
import * as tf from '@tensorflow/tfjs';
import { scaleLinear } from 'd3';
import type { RunResult } from '../src/sim/network.js';
import { axisBottom, axisLeft, el, esc, svg } from './svg.js';

export interface RasterLayer {
  readonly name: string;
  readonly neurons: number;
  readonly steps: number;
  /** Step of each spike (each nonzero value of an analog layer). */
  readonly times: Int32Array;
  /** Neuron of each spike. */
  readonly units: Int32Array;
  /** An analog layer's values at (times[i], units[i]) (direct input): drawn as a heat map, not spikes. */
  readonly values?: Float32Array;
  /** The row each neuron is drawn in (default: its index); see {@link orderNeurons}. */
  readonly rows?: Int32Array;
}

/** How a raster orders its neurons: by index, by first spike time, or by a seriation of their spike trains. */
export const NEURON_ORDERS = ['index', 'first-spike', 'cluster'] as const;
export type NeuronOrder = (typeof NEURON_ORDERS)[number];

export interface Raster {
  readonly layers: readonly RasterLayer[];
  /** A caption (the sample, its label, …). */
  readonly caption?: string;
}

/** The spikes of `[T, N]` values (row-major, nonzero = spike) as a raster layer; values other than 0 and 1 make it analog (a heat map). */
export function rasterLayer(name: string, spikes: ArrayLike<number>, steps: number, neurons: number): RasterLayer {
  const times: number[] = [],
    units: number[] = [],
    values: number[] = [];
  let analog = false;
  for (let t = 0; t < steps; t++) {
    for (let n = 0; n < neurons; n++) {
      const v = spikes[t * neurons + n]!;
      if (!v) continue;
      times.push(t);
      units.push(n);
      values.push(v);
      if (v !== 1) analog = true;
    }
  }
  return { name, neurons, steps, times: Int32Array.from(times), units: Int32Array.from(units), ...(analog ? { values: Float32Array.from(values) } : {}) };
}

/** Spikes per step of each neuron (an analog layer: its mean value). */
export function neuronRates(layer: RasterLayer): Float32Array {
  const rates = new Float32Array(layer.neurons);
  layer.units.forEach((n, i) => (rates[n]! += (layer.values?.[i] ?? 1) / layer.steps));
  return rates;
}

/** The fraction of neurons spiking at each step (an analog layer: the mean value). */
export function populationRate(layer: RasterLayer): Float32Array {
  const rate = new Float32Array(layer.steps);
  layer.times.forEach((t, i) => (rate[t]! += (layer.values?.[i] ?? 1) / layer.neurons));
  return rate;
}

/**
 * `layer` with its neurons' rows ordered: 'first-spike' by the step of their first spike (silent
 * neurons last), 'cluster' by a greedy nearest-neighbour seriation of their spike trains (start at
 * the most active neuron, then always the unplaced neuron whose train is nearest in Hamming
 * distance; silent neurons last), so neurons that fire together are drawn together; 'index' as they are.
 */
export function orderNeurons(layer: RasterLayer, by: NeuronOrder): RasterLayer {
  if (by === 'index') return layer;
  const n = layer.neurons;
  let sequence: number[];
  if (by === 'first-spike') {
    const first = new Int32Array(n).fill(layer.steps);
    layer.times.forEach((t, i) => (first[layer.units[i]!] = Math.min(first[layer.units[i]!]!, t)));
    sequence = Array.from({ length: n }, (_, i) => i).sort((a, b) => first[a]! - first[b]! || a - b);
  } else {
    const trains = Array.from({ length: n }, () => new Uint8Array(layer.steps));
    layer.times.forEach((t, i) => (trains[layer.units[i]!]![t] = 1));
    const rates = neuronRates(layer);
    // silent neurons go last, in index order; the chain runs over the ones that spike
    const placed = Uint8Array.from(rates, (r) => (r > 0 ? 0 : 1));
    const active = placed.reduce((a, p) => a + (p ? 0 : 1), 0);
    let at = rates.reduce((best, r, i) => (r > rates[best]! ? i : best), 0);
    sequence = [];
    for (let k = 0; k < active; k++) {
      placed[at] = 1;
      sequence.push(at);
      let next = -1,
        nearest = Infinity;
      for (let j = 0; j < n; j++) {
        if (placed[j]) continue;
        let d = 0;
        for (let t = 0; t < layer.steps; t++) d += trains[at]![t]! ^ trains[j]![t]!;
        if (d < nearest) {
          nearest = d;
          next = j;
        }
      }
      if (next < 0) break;
      at = next;
    }
    for (let j = 0; j < n; j++) if (rates[j] === 0) sequence.push(j);
  }
  const rows = new Int32Array(n);
  sequence.forEach((neuron, row) => (rows[neuron] = row));
  return { ...layer, rows };
}

/**
 * One sample of a recording (`Network.run` with `record: { layer: ['spikes'] }`): every recorded
 * layer's spikes `[B, T, …N]` become a panel; `input` `[B, T, …]` adds the input spikes on top.
 */
export function rasterFromRecording(result: RunResult, sample: number, o: { readonly input?: tf.Tensor; readonly caption?: string } = {}): Raster {
  const layers: RasterLayer[] = [];
  const take = (name: string, t: tf.Tensor) => {
    const [batch, steps] = t.shape as [number, number];
    if (sample < 0 || sample >= batch) throw new RangeError(`rasterFromRecording: sample ${sample} is outside the batch of ${batch}`);
    const neurons = t.size / (batch * steps);
    // the typed array leaves tidy wrapped in a tensor: tidy walks a returned array element by element
    const row = tf.tidy(() => tf.slice(tf.reshape(t, [batch, steps * neurons]), [sample, 0], [1, -1]));
    const values = row.dataSync();
    row.dispose();
    layers.push(rasterLayer(name, values, steps, neurons));
  };
  if (o.input) take('input', o.input);
  for (const [name, rec] of Object.entries(result.records)) if (rec.spikes) take(name, rec.spikes);
  return { layers, ...(o.caption ? { caption: o.caption } : {}) };
}

export interface RasterLayout {
  readonly width?: number;
  /** Pixel height per neuron, clamped to 60…300 px per panel. */
  readonly rowHeight?: number;
}

/** Right: each neuron's firing rate as a bar; below each raster: the population rate per step. */
export const RATE_MARGIN = 56,
  POPULATION_HEIGHT = 36;
const MARGIN = { top: 28, right: 16 + RATE_MARGIN, bottom: 40, left: 64 };
/** Space between panels: the time axis and its label, the population strip, the next title. */
const GAP = POPULATION_HEIGHT + 78;

/** Panel geometry shared by the SVG and the canvas renderers. */
export function rasterPanels(r: Raster, o: RasterLayout = {}) {
  const width = o.width ?? 720;
  let top = MARGIN.top + (r.caption ? 14 : 0);
  const panels = r.layers.map((layer) => {
    const height = Math.min(300, Math.max(60, layer.neurons * (o.rowHeight ?? 2)));
    const x = scaleLinear()
      .domain([0, layer.steps])
      .range([MARGIN.left, width - MARGIN.right]);
    const y = scaleLinear()
      .domain([0, layer.neurons])
      .range([top, top + height]);
    const strip = scaleLinear()
      .domain([0, 1])
      .range([top + height + 24 + POPULATION_HEIGHT, top + height + 24]);
    top += height + GAP;
    return { layer, x, y, height, strip };
  });
  return { width, height: top - GAP + POPULATION_HEIGHT + 58, panels };
}

/** A panel's title: the layer, its size, and its spikes (or, analog, its range of values). */
export function layerTitle(layer: RasterLayer): string {
  if (!layer.values) return `${layer.name} (${layer.neurons} neurons, ${layer.times.length} spikes)`;
  const hi = layer.values.reduce((a, b) => Math.max(a, b), 0);
  return `${layer.name} (${layer.neurons} inputs, analog values up to ${Math.round(hi * 100) / 100}: darker is larger)`;
}

/** The raster as an SVG document: spikes (or an analog heat map), each neuron's rate at the right, the population rate below. */
export function rasterSvg(r: Raster, o: RasterLayout = {}): string {
  const { width, height, panels } = rasterPanels(r, o);
  const body = panels.flatMap(({ layer, x, y, strip }) => {
    const w = Math.max(1, x(1) - x(0)),
      h = Math.max(1, y(1) - y(0));
    const row = (n: number) => layer.rows?.[n] ?? n;
    const peak = layer.values ? layer.values.reduce((a, b) => Math.max(a, Math.abs(b)), 0) || 1 : 1;
    const marks = Array.from(layer.times, (t, i) =>
      el('rect', {
        class: layer.values ? 'cell' : 'spike',
        x: x(t),
        y: y(row(layer.units[i]!)),
        width: w,
        height: h,
        'data-t': t,
        'data-n': layer.units[i]!,
        ...(layer.values ? { 'fill-opacity': Math.abs(layer.values[i]!) / peak, 'data-v': layer.values[i]! } : {}),
      }),
    );
    const rates = neuronRates(layer),
      maxRate = Math.max(1e-9, ...rates);
    const right = x.range()[1]! + 6;
    const rateBars = Array.from(rates, (rate, n) =>
      rate > 0 ? el('rect', { class: 'rate', x: right, y: y(row(n)), width: ((RATE_MARGIN - 14) * rate) / maxRate, height: h, 'data-n': n }) : '',
    );
    const population = populationRate(layer);
    const popPeak = Math.max(1e-9, ...population);
    const strip2 = strip.copy().domain([0, popPeak]);
    const popPath = Array.from(population, (v, t) => `${t ? 'L' : 'M'}${Math.round(x(t + 0.5) * 100) / 100},${Math.round(strip2(v) * 100) / 100}`).join('');
    return [
      el('g', { class: 'layer', 'data-layer': layer.name }, [
        el('text', { class: 'title', x: x.range()[0]!, y: y.range()[0]! - 8 }, esc(layerTitle(layer))),
        ...marks,
        el('g', { class: 'rates' }, [
          ...rateBars,
          el('text', { class: 'mark-label', x: right, y: y.range()[0]! - 8 }, esc(`rate ≤ ${Math.round(maxRate * 100) / 100}`)),
        ]),
        axisBottom(x, y.range()[1]! + 2, ''),
        axisLeft(y, x.range()[0]! - 2, layer.rows ? 'neuron (ordered)' : 'neuron', 4),
        el('g', { class: 'population' }, [
          el('path', { class: 'population-rate', d: popPath }),
          el('text', { class: 'mark-label', x: x.range()[0]! - 6, y: strip.range()[1]! + 8, 'text-anchor': 'end' }, layer.values ? 'mean' : 'rate'),
          el('text', { class: 'mark-label', x: x.range()[1]! + 6, y: strip.range()[1]! + 8 }, esc(`≤ ${Math.round(popPeak * 1000) / 1000}`)),
          el('text', { class: 'axis-label', x: (x.range()[0]! + x.range()[1]!) / 2, y: strip.range()[0]! + 16, 'text-anchor': 'middle' }, 'time step'),
        ]),
      ]),
    ];
  });
  return svg(width, height, [...(r.caption ? [el('text', { class: 'title', x: MARGIN.left, y: 16 }, esc(r.caption))] : []), ...body], {
    title: r.caption ?? 'spike raster',
    kind: 'raster',
  });
}
