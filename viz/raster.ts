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
  /** Step of each spike. */
  readonly times: Int32Array;
  /** Neuron of each spike. */
  readonly units: Int32Array;
}

export interface Raster {
  readonly layers: readonly RasterLayer[];
  /** A caption (the sample, its label, …). */
  readonly caption?: string;
}

/** The spikes of `[T, N]` values (row-major, nonzero = spike) as a raster layer. */
export function rasterLayer(name: string, spikes: ArrayLike<number>, steps: number, neurons: number): RasterLayer {
  const times: number[] = [], units: number[] = [];
  for (let t = 0; t < steps; t++) for (let n = 0; n < neurons; n++) if (spikes[t * neurons + n]) (times.push(t), units.push(n));
  return { name, neurons, steps, times: Int32Array.from(times), units: Int32Array.from(units) };
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

const MARGIN = { top: 28, right: 16, bottom: 40, left: 64 };

/** Panel geometry shared by the SVG and the canvas renderers. */
export function rasterPanels(r: Raster, o: RasterLayout = {}) {
  const width = o.width ?? 720;
  let top = MARGIN.top + (r.caption ? 14 : 0);
  const panels = r.layers.map((layer) => {
    const height = Math.min(300, Math.max(60, layer.neurons * (o.rowHeight ?? 2)));
    const x = scaleLinear().domain([0, layer.steps]).range([MARGIN.left, width - MARGIN.right]);
    const y = scaleLinear().domain([0, layer.neurons]).range([top, top + height]);
    top += height + MARGIN.bottom;
    return { layer, x, y, height };
  });
  return { width, height: top - MARGIN.bottom + 40, panels };
}

/** The raster as an SVG document. */
export function rasterSvg(r: Raster, o: RasterLayout = {}): string {
  const { width, height, panels } = rasterPanels(r, o);
  const body = panels.flatMap(({ layer, x, y }) => {
    const w = Math.max(1, x(1) - x(0)), h = Math.max(1, y(1) - y(0));
    const marks = Array.from(layer.times, (t, i) => el('rect', { class: 'spike', x: x(t), y: y(layer.units[i]!), width: w, height: h, 'data-t': t, 'data-n': layer.units[i]! }));
    return [
      el('g', { class: 'layer', 'data-layer': layer.name }, [
        el('text', { class: 'title', x: x.range()[0]!, y: y.range()[0]! - 8 }, esc(`${layer.name} (${layer.neurons} neurons, ${layer.times.length} spikes)`)),
        ...marks,
        axisBottom(x, y.range()[1]! + 2, 'time step'),
        axisLeft(y, x.range()[0]! - 2, 'neuron', 4),
      ]),
    ];
  });
  return svg(width, height, [...(r.caption ? [el('text', { class: 'title', x: MARGIN.left, y: 16 }, esc(r.caption))] : []), ...body], { title: r.caption ?? 'spike raster', kind: 'raster' });
}
