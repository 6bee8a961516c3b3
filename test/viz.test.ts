/**
 * Renderers against the figure they must draw: the marks of a known spike pattern and of a known
 * membrane trace, placed by the layout's own linear formulas (written out here, not taken from d3).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { histogramSvg, lineChartSvg } from '../viz/charts.js';
import { membraneSvg } from '../viz/membrane.js';
import { rasterFromRecording, rasterLayer, rasterSvg } from '../viz/raster.js';

/** Attributes of every `<tag class="cls" …>` in an SVG string. */
function marks(svg: string, tag: string, cls: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag} ([^>]*class="${cls}"[^>]*?)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
  );
}

describe('spike raster', () => {
  // T = 5 steps, N = 4 neurons; spikes at (t, n) = (0, 1), (2, 3), (4, 0), (4, 2)
  const pattern = new Float32Array(20);
  const spikes: [number, number][] = [[0, 1], [2, 3], [4, 0], [4, 2]];
  for (const [t, n] of spikes) pattern[t * 4 + n] = 1;

  it('draws one mark per spike at its step and neuron', () => {
    const svg = rasterSvg({ layers: [rasterLayer('hidden', pattern, 5, 4)] }, { width: 580, rowHeight: 20 });
    const rects = marks(svg, 'rect', 'spike');
    expect(rects).toHaveLength(4);
    // layout: plot x from 64 to 580 − 16 = 564 (500 px for 5 steps), y from 28 over 4 · 20 = 80 px (min 60)
    const cell = { w: 500 / 5, h: 80 / 4 };
    rects.forEach((r, i) => {
      const [t, n] = spikes[i]!;
      expect([Number(r['x']), Number(r['y']), Number(r['width']), Number(r['height'])]).toEqual([64 + t * cell.w, 28 + n * cell.h, cell.w, cell.h]);
      expect([Number(r['data-t']), Number(r['data-n'])]).toEqual([t, n]);
    });
    expect(svg).toMatch(/hidden \(4 neurons, 4 spikes\)/);
  });

  it('stacks layers and takes them from a recording, one sample at a time', () => {
    const net = new Network({ input: [3], layers: [dense({ name: 'h', units: 4, neuron: lif({ beta: 0.5, threshold: 0.5 }) }), readout({ name: 'o', units: 2 })], seed: 1 });
    net.setParameter('h', 'weight', [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], { layout: 'spikelr' });
    net.setParameter('h', 'bias', [0, 0, 0, 0.3]);
    // sample 1 drives neuron 0 at steps 0 and 2, neuron 2 at step 1; neuron 3 integrates 0.3 per step
    const input = tf.tensor3d([[[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 1], [1, 0, 0]]]);
    const result = net.run(input, { record: { h: ['spikes'] } });
    const raster = rasterFromRecording(result, 1, { input, caption: 'sample 1' });
    expect(raster.layers.map((l) => l.name)).toEqual(['input', 'h']);
    expect(Array.from(raster.layers[0]!.times)).toEqual([0, 1, 2]);
    expect(Array.from(raster.layers[0]!.units)).toEqual([0, 2, 0]);
    // h: u = βu + I; neuron 3: 0.3, 0.45, 0.525 → spikes at step 2 (u > 0.5)
    const h = raster.layers[1]!;
    expect(Array.from(h.times)).toEqual([0, 1, 2, 2]);
    expect(Array.from(h.units)).toEqual([0, 2, 0, 3]);
    expect(marks(rasterSvg(raster), 'rect', 'spike')).toHaveLength(7);
    expect(() => rasterFromRecording(result, 2)).toThrow(/sample 2 is outside the batch of 2/);
    result.dispose();
    input.dispose();
    net.dispose();
  });
});

describe('membrane trace', () => {
  it('draws the membrane through every step, the threshold line, and a marker on the threshold at each spike', () => {
    const membrane = [0, 0.5, 2, 0.25, 1];
    const svg = membraneSvg([{ label: 'neuron 0', membrane, threshold: 1, spikes: [0, 0, 1, 0, 0] }], { width: 464, panelHeight: 100 });
    // x from 64 to 464 − 16 = 448 over steps 0…4 (96 px a step); y: [0, 2] over 100 px from the top at 28
    const X = (t: number) => 64 + 96 * t, Y = (u: number) => 28 + 100 * (1 - u / 2);
    const path = marks(svg, 'path', 'membrane')[0]!['d']!;
    const points = [...path.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(points).toEqual(membrane.map((u, t) => [X(t), Y(u)]));
    expect(marks(svg, 'path', 'threshold')[0]!['d']).toBe(`M${X(0)},${Y(1)}L${X(1)},${Y(1)}L${X(2)},${Y(1)}L${X(3)},${Y(1)}L${X(4)},${Y(1)}`);
    const dots = marks(svg, 'circle', 'marker');
    expect(dots.map((d) => [Number(d['cx']), Number(d['cy'])])).toEqual([[X(2), Y(1)]]);
  });

  it('follows an adaptive threshold step by step', () => {
    const svg = membraneSvg([{ label: 'alif', membrane: [0, 1, 0], threshold: [1, 2, 1.5], spikes: [0, 1, 0] }], { width: 464, panelHeight: 100 });
    const X = (t: number) => 64 + 192 * t, Y = (u: number) => 28 + 100 * (1 - u / 2);
    expect(marks(svg, 'path', 'threshold')[0]!['d']).toBe(`M${X(0)},${Y(1)}L${X(1)},${Y(2)}L${X(2)},${Y(1.5)}`);
    expect(marks(svg, 'circle', 'marker').map((d) => Number(d['cy']))).toEqual([Y(2)]);
  });
});

describe('charts', () => {
  it('a line chart has one series per run with a point and a hover title per value', () => {
    const svg = lineChartSvg({ title: 'accuracy', x: 'epoch', y: 'test accuracy', yDomain: [0, 1], series: [{ name: 'lr', points: [[1, 0.9], [2, 0.95]] }, { name: 'bptt', points: [[1, 0.93], [2, 0.96]] }] });
    expect([...svg.matchAll(/<g class="series-group" data-series="(\w+)"/g)].map((m) => m[1])).toEqual(['lr', 'bptt']);
    expect([...svg.matchAll(/<circle /g)]).toHaveLength(4);
    expect(svg).toMatch(/<title>bptt: epoch 2, test accuracy 0\.9600<\/title>/);
  });

  it('a histogram counts every value once', () => {
    const values = [0.01, 0.02, 0.11, 0.12, 0.13, 0.55];
    const svg = histogramSvg({ title: 'rates', x: 'rate', values, domain: [0, 1], bins: 10 });
    const counts = [...svg.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(values.length);
    expect(counts.slice(0, 2)).toEqual([2, 3]);
  });
});
