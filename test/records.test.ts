/**
 * Every state field a model declares can be recorded: the synaptic current, ALIF's adaptive
 * threshold, an equation neuron's variables — against the scalar reference, and the raster's
 * membrane traces draw ALIF's real, moving threshold.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/cli/config.js';
import { sampleFigures } from '../src/cli/viz.js';
import { alif, lif, synaptic } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refNeurons } from './reference.js';

const currents = Array.from({ length: 30 }, (_, t) => [0.35, 0.2 + 0.3 * Math.sin(t / 3), 0.6]);

/** A 3-neuron population driven by `currents` through an identity weight. */
function population(neuron: Parameters<typeof dense>[0]['neuron']) {
  const net = new Network({ input: [3], layers: [dense({ name: 'h', units: 3, neuron, bias: false })], seed: 1 });
  net.setParameter('h', 'weight', [1, 0, 0, 0, 1, 0, 0, 0, 1], { layout: 'spikelr' });
  return net;
}

const rows = (t: tf.Tensor) => Array.from({ length: currents.length }, (_, i) => Array.from(t.dataSync().slice(i * 3, i * 3 + 3)));

describe('recorded state fields', () => {
  it('the synaptic current of a current-based LIF: i_t = α i_{t−1} + I_t', () => {
    const p = synaptic({ alpha: 0.7, beta: 0.8, threshold: 0.9 });
    const net = population(p);
    const x = tf.tensor3d([currents]);
    const r = net.run(x, { record: { h: ['synaptic', 'spikes'] } });
    let i = [0, 0, 0];
    rows(r.records['h']!['synaptic']!).forEach((row, t) => {
      i = i.map((v, k) => 0.7 * v + currents[t]![k]!);
      row.forEach((v, k) => expect(v).toBeCloseTo(i[k]!, 5));
    });
    expect(rows(r.records['h']!.spikes!)).toEqual(refNeurons(p, currents).spikes);
    r.dispose();
    x.dispose();
    net.dispose();
  });

  it("ALIF's adaptive threshold ϑ_t = ϑ + b a_t, against the reference", () => {
    const p = alif({ beta: 0.9, threshold: 0.5, rho: 0.8, adaptation: 0.4 });
    const net = population(p);
    const x = tf.tensor3d([currents]);
    const r = net.run(x, { record: { h: ['threshold', 'adaptation', 'spikes'] } });
    const ref = refNeurons(p, currents);
    expect(ref.spikes.flat().filter((s) => s === 1).length).toBeGreaterThan(5);
    rows(r.records['h']!['threshold']!).forEach((row, t) => row.forEach((v, k) => expect(v).toBeCloseTo(ref.threshold[t]![k]!, 5)));
    expect(new Set(rows(r.records['h']!['threshold']!).map((row) => row[0]!.toFixed(4))).size).toBeGreaterThan(3); // it moves
    r.dispose();
    x.dispose();
    net.dispose();
  });

  it('a field the model does not have is an error listing those it has', () => {
    const net = population(lif());
    const x = tf.ones([1, 2, 3]);
    expect(() => net.run(x, { record: { h: ['adaptation'] } })).toThrow(
      /unknown record field 'adaptation' for layer 'h' \(lif\); expected one of 'spikes', 'membrane'/,
    );
    x.dispose();
    net.dispose();
  });
});

describe('raster membrane traces', () => {
  it("draw ALIF's moving threshold, step by step", async () => {
    const config = { ...defaultConfig('lr'), neuron: 'alif' as const, steps: 12 };
    const net = new Network({
      input: [784],
      layers: [
        dense({ name: 'hidden', units: 40, neuron: alif({ beta: 0.9, threshold: 0.5, rho: 0.9, adaptation: 0.5 }) }),
        readout({ name: 'out', units: 10 }),
      ],
      seed: 2,
    });
    const f = await sampleFigures(net, config, 3, { traces: 2 });
    const trace = f.traces[0]!;
    expect(trace.label).toMatch(/adaptive threshold/);
    const threshold = Array.from(trace.threshold as ArrayLike<number>);
    expect(threshold).toHaveLength(12);
    // ϑ_t = ϑ + b a_t with a_t = ρ a_{t−1} + s_{t−1}: rebuilt from the trace's own spikes
    let a = 0;
    threshold.forEach((v, t) => {
      a = 0.9 * a + (t > 0 ? trace.spikes![t - 1]! : 0);
      expect(v).toBeCloseTo(0.5 + 0.5 * a, 5);
    });
    expect(Math.max(...threshold)).toBeGreaterThan(0.5); // the most active neuron adapted
    net.dispose();
  });
});
