/**
 * Renderers against the figure they must draw: the marks of a known spike pattern and of a known
 * membrane trace, placed by the layout's own linear formulas (written out here, not taken from d3).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { barChartSvg, histogramSvg, lineChartSvg, spansDecades } from '../viz/charts.js';
import { membraneSvg } from '../viz/membrane.js';
import { neuronRates, orderNeurons, populationRate, rasterFromRecording, rasterLayer, rasterSvg } from '../viz/raster.js';
import { robustnessLabel } from '../src/cli/compare-report.js';
import { informativeNeurons } from '../src/cli/viz.js';

/** Attributes of every `<tag class="cls" …>` in an SVG string. */
function marks(svg: string, tag: string, cls: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag} ([^>]*class="${cls}"[^>]*?)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
  );
}

describe('spike raster', () => {
  // T = 5 steps, N = 4 neurons; spikes at (t, n) = (0, 1), (2, 3), (4, 0), (4, 2)
  const pattern = new Float32Array(20);
  const spikes: [number, number][] = [
    [0, 1],
    [2, 3],
    [4, 0],
    [4, 2],
  ];
  for (const [t, n] of spikes) pattern[t * 4 + n] = 1;

  it('draws one mark per spike at its step and neuron', () => {
    const svg = rasterSvg({ layers: [rasterLayer('hidden', pattern, 5, 4)] }, { width: 580, rowHeight: 20 });
    const rects = marks(svg, 'rect', 'spike');
    expect(rects).toHaveLength(4);
    // layout: plot x from 64 to 580 − 16 − 56 (the rate margin) = 508 (444 px for 5 steps), y from 28 over 4 · 20 = 80 px (min 60)
    const cell = { w: 444 / 5, h: 80 / 4 };
    rects.forEach((r, i) => {
      const [t, n] = spikes[i]!;
      expect([Number(r['x']), Number(r['y']), Number(r['width']), Number(r['height'])]).toEqual(
        [64 + t * cell.w, 28 + n * cell.h, cell.w, cell.h].map((v) => Math.round(v * 100) / 100),
      );
      expect([Number(r['data-t']), Number(r['data-n'])]).toEqual([t, n]);
    });
    expect(svg).toMatch(/hidden \(4 neurons, 4 spikes\)/);
  });

  it('stacks layers and takes them from a recording, one sample at a time', () => {
    const net = new Network({
      input: [3],
      layers: [dense({ name: 'h', units: 4, neuron: lif({ beta: 0.5, threshold: 0.5 }) }), readout({ name: 'o', units: 2 })],
      seed: 1,
    });
    net.setParameter('h', 'weight', [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], { layout: 'spikelr' });
    net.setParameter('h', 'bias', [0, 0, 0, 0.3]);
    // sample 1 drives neuron 0 at steps 0 and 2, neuron 2 at step 1; neuron 3 integrates 0.3 per step
    const input = tf.tensor3d([
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
      [
        [1, 0, 0],
        [0, 0, 1],
        [1, 0, 0],
      ],
    ]);
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

describe('raster structure', () => {
  // T = 4, N = 4: neuron 0 fires at 2, 3; neuron 1 never; neuron 2 at 0, 1; neuron 3 at 0, 1, 2
  const values = new Float32Array(16);
  for (const [t, n] of [
    [2, 0],
    [3, 0],
    [0, 2],
    [1, 2],
    [0, 3],
    [1, 3],
    [2, 3],
  ])
    values[t! * 4 + n!] = 1;
  const layer = rasterLayer('h', values, 4, 4);

  it('rates per neuron and per step count the spikes', () => {
    expect(Array.from(neuronRates(layer))).toEqual([0.5, 0, 0.5, 0.75]);
    expect(Array.from(populationRate(layer))).toEqual([0.5, 0.5, 0.5, 0.25]);
  });

  it('orders rows by first spike (silent last) and by seriation (neurons firing together, together)', () => {
    // first spikes: n0 at 2, n1 never, n2 at 0, n3 at 0 → rows n2, n3, n0, n1
    expect(Array.from(orderNeurons(layer, 'first-spike').rows!)).toEqual([2, 3, 0, 1]);
    // the chain runs over the neurons that spike: from the most active (n3, 1110) to the nearest, n2
    // (1100, distance 1), then n0 (0011); the silent n1 last → rows n3, n2, n0, n1
    expect(Array.from(orderNeurons(layer, 'cluster').rows!)).toEqual([2, 3, 1, 0]);
    expect(orderNeurons(layer, 'index').rows).toBeUndefined();
    // drawn in their rows: neuron 0's spikes in row 2
    const svg = rasterSvg({ layers: [orderNeurons(layer, 'cluster')] }, { width: 580, rowHeight: 20 });
    const n0 = marks(svg, 'rect', 'spike').filter((r) => r['data-n'] === '0');
    expect(n0.map((r) => Number(r['y']))).toEqual([28 + 2 * 20, 28 + 2 * 20]); // row 2 of 20 px rows
    expect(svg).toMatch(/neuron \(ordered\)/);
  });

  it('draws analog input as a heat map, each cell as opaque as its value', () => {
    const analog = rasterLayer('input', Float32Array.from([0, 0.5, 1, 0.25]), 2, 2);
    expect(Array.from(analog.values!)).toEqual([0.5, 1, 0.25]);
    const svg = rasterSvg({ layers: [analog] });
    expect(marks(svg, 'rect', 'spike')).toHaveLength(0);
    expect(marks(svg, 'rect', 'cell').map((c) => Number(c['fill-opacity']))).toEqual([0.5, 1, 0.25]);
    expect(svg).toMatch(/input \(2 inputs, analog values up to 1: darker is larger\)/);
  });

  it('traces go to neurons that cross the threshold now and then, not to saturated ones', () => {
    // rates: n0 fires every step, n1 never (its membrane flat), n2 at 0.25, n3 at 0.5, n4 never (membrane varies)
    const rates = Float32Array.from([1, 0, 0.25, 0.5, 0]);
    const steps = 4,
      membrane = new Float32Array(steps * 5);
    for (let t = 0; t < steps; t++) membrane[t * 5 + 4] = t % 2;
    expect(informativeNeurons(rates, membrane, steps, 5, 3)).toEqual([2, 3, 4]);
  });
});

describe('membrane trace', () => {
  it('draws the membrane through every step, the threshold line, and a marker on the threshold at each spike', () => {
    const membrane = [0, 0.5, 2, 0.25, 1];
    const svg = membraneSvg([{ label: 'neuron 0', membrane, threshold: 1, spikes: [0, 0, 1, 0, 0] }], { width: 464, panelHeight: 100 });
    // x from 64 to 464 − 16 = 448 over steps 0…4 (96 px a step); y: [0, 2] over 100 px from the top at 30
    const X = (t: number) => 64 + 96 * t,
      Y = (u: number) => 30 + 100 * (1 - u / 2);
    const path = marks(svg, 'path', 'membrane')[0]!['d']!;
    const points = [...path.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(points).toEqual(membrane.map((u, t) => [X(t), Y(u)]));
    expect(marks(svg, 'path', 'threshold')[0]!['d']).toBe(`M${X(0)},${Y(1)}L${X(1)},${Y(1)}L${X(2)},${Y(1)}L${X(3)},${Y(1)}L${X(4)},${Y(1)}`);
    const dots = marks(svg, 'circle', 'marker');
    expect(dots.map((d) => [Number(d['cx']), Number(d['cy'])])).toEqual([[X(2), Y(1)]]);
  });

  it('follows an adaptive threshold step by step', () => {
    const svg = membraneSvg([{ label: 'alif', membrane: [0, 1, 0], threshold: [1, 2, 1.5], spikes: [0, 1, 0] }], { width: 464, panelHeight: 100 });
    const X = (t: number) => 64 + 192 * t,
      Y = (u: number) => 30 + 100 * (1 - u / 2);
    expect(marks(svg, 'path', 'threshold')[0]!['d']).toBe(`M${X(0)},${Y(1)}L${X(1)},${Y(2)}L${X(2)},${Y(1.5)}`);
    expect(marks(svg, 'circle', 'marker').map((d) => Number(d['cy']))).toEqual([Y(2)]);
  });
});

describe('charts', () => {
  it('a line chart has one series per run with a point and a hover title per value', () => {
    const svg = lineChartSvg({
      title: 'accuracy',
      x: 'epoch',
      y: 'test accuracy',
      yDomain: [0, 1],
      series: [
        {
          name: 'lr',
          points: [
            [1, 0.9],
            [2, 0.95],
          ],
        },
        {
          name: 'bptt',
          points: [
            [1, 0.93],
            [2, 0.96],
          ],
        },
      ],
    });
    expect([...svg.matchAll(/<g class="series-group" data-series="(\w+)"/g)].map((m) => m[1])).toEqual(['lr', 'bptt']);
    expect([...svg.matchAll(/<circle /g)]).toHaveLength(4);
    expect(svg).toMatch(/<title>bptt: epoch 2, test accuracy 0\.9600<\/title>/);
  });

  it('ticks at the given values, a log axis chosen by the data, a zero-based axis when asked, epoch marks', () => {
    const svg = lineChartSvg({
      title: 'cosine',
      x: 'K',
      y: 'cosine',
      logX: true,
      xTicks: [2, 8, 32],
      series: [
        {
          name: 'lr',
          points: [
            [2, 0.1],
            [8, 0.2],
            [32, 0.4],
          ],
        },
      ],
    });
    expect(
      [...svg.matchAll(/<g class="tick" transform="translate\(([\d.]+),[\d.]+\)"><line y2="4"\/><text y="15" text-anchor="middle">([^<]*)</g)].map((m) => m[2]),
    ).toEqual(['2', '8', '32']);
    expect(spansDecades([0.05, 2.3])).toBe(true);
    expect(spansDecades([0.5, 2.3])).toBe(false);
    expect(spansDecades([0, 2.3])).toBe(false);
    const loss = lineChartSvg({
      title: 'loss',
      x: 'step',
      y: 'loss',
      logY: 'auto',
      xMarks: [{ at: 10, label: 'epoch 2' }],
      series: [
        {
          name: 'lr',
          points: [
            [0, 2.3],
            [10, 0.5],
            [20, 0.05],
          ],
        },
      ],
    });
    expect(loss).toMatch(/>0\.1</); // a decade tick of the log axis
    expect(loss).toMatch(/<text class="mark-label"[^>]*>epoch 2</);
    const mem = lineChartSvg({
      title: 'memory',
      x: 'epoch',
      y: 'MiB',
      zeroBased: true,
      series: [
        {
          name: 'lr',
          points: [
            [1, 86.3],
            [2, 86.5],
          ],
        },
      ],
    });
    expect(mem).toMatch(/<text x="-7" dy="0\.32em" text-anchor="end">0<\/text>/);
  });

  it('bars start at zero and carry their value; robustness keys read as words', () => {
    const svg = barChartSvg({
      title: 'memory',
      x: 'MiB',
      bars: [
        { name: 'lr', value: 80 },
        { name: 'bptt', value: 40, label: '40.0 MiB' },
      ],
    });
    const [a, b] = marks(svg, 'rect', 'bar');
    expect(Number(a!['x'])).toBe(Number(b!['x']));
    expect(Number(a!['width'])).toBeCloseTo(2 * Number(b!['width']), 6);
    expect(svg).toMatch(/>40\.0 MiB</);
    expect(robustnessLabel('lrFromBptt')).toBe('lr (attacks crafted on bptt)');
    expect(robustnessLabel('fg-activityFromLr+decor')).toBe('fg-activity (attacks crafted on lr+decor)');
    expect(robustnessLabel('lr')).toBe('lr');
  });

  it('a histogram counts every value once', () => {
    const values = [0.01, 0.02, 0.11, 0.12, 0.13, 0.55];
    const svg = histogramSvg({ title: 'rates', x: 'rate', values, domain: [0, 1], bins: 10 });
    const counts = [...svg.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(values.length);
    expect(counts.slice(0, 2)).toEqual([2, 3]);
  });
});
