/**
 * Per-layer settings (issue 31): a layer's own learning-rate multiple (every learner), escape noise
 * and copies (LR's layer-wise injection), from the library, a config and the command line; each
 * checked against what it must do (Adam's first step in closed form, the noise each layer fires
 * with, the passes layer-wise injection runs) and against bad names.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/cli/config.js';
import { runTraining } from '../src/cli/train.js';
import { forwardGradient } from '../src/learning/estimators/fg.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { lrConfigOf, noisePerLayer, validate } from '../src/learning/estimators/lr-config.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { defaultConfig } from '../src/learning/defaults.js';
import { optimizer } from '../src/learning/optim.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

describe('a per-variable learning rate', () => {
  it("Adam's first step moves each weight by −η·s·sign(g), s its layer's multiple", () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3])),
      b = tf.variable(tf.tensor1d([1, 2]));
    const opt = optimizer(
      { kind: 'adam', learningRate: 0.01, epsilon: 1e-12 },
      (v) => (v === a ? 'a' : 'b'),
      (v) => (v === a ? 0.5 : 1),
    );
    const ga = tf.tensor1d([0.3, -2, 1e-3]),
      gb = tf.tensor1d([-0.7, 5]);
    opt.apply(
      new Map([
        [a, ga],
        [b, gb],
      ]),
    );
    // first step: m̂ = g, v̂ = g², so Δ = −η s g/|g|
    [1 - 0.005, 2 + 0.005, 3 - 0.005].forEach((x, i) => expect(a.dataSync()[i]).toBeCloseTo(x, 6));
    [1 + 0.01, 2 - 0.01].forEach((x, i) => expect(b.dataSync()[i]).toBeCloseTo(x, 6));
    opt.dispose();
    tf.dispose([a, b, ga, gb]);
  });
});

describe("LR's per-layer noise and copies", () => {
  const net = () =>
    new Network({
      input: [4],
      layers: [dense({ name: 'h1', units: 3, neuron: lif() }), dense({ name: 'h2', units: 3, neuron: lif() }), readout({ name: 'out', units: 2 })],
      seed: 1,
    });

  it('layerNoise replaces the one noise in the named layers only; the readout stays deterministic', () => {
    const n = net();
    const c = validate({ copies: 4, noise: escapeNoise('logistic', 0.5), layerNoise: { h2: escapeNoise('gaussian', 0.2) } });
    expect(noisePerLayer(n, c)).toEqual([escapeNoise('logistic', 0.5), escapeNoise('gaussian', 0.2), undefined]);
    const wrong = validate({ copies: 4, noise: escapeNoise('logistic', 0.5), layerNoise: { h3: escapeNoise('gaussian', 0.2) } });
    expect(() => noisePerLayer(n, wrong)).toThrow(/layerNoise names 'h3', which is not a layer of this network; noisy layers: h1, h2/);
    const readoutNoise = validate({ copies: 4, noise: escapeNoise('logistic', 0.5), layerNoise: { out: escapeNoise('gaussian', 0.2) } });
    expect(() => noisePerLayer(n, readoutNoise)).toThrow(/'out', which has no spiking or analog units/);
    n.dispose();
  });

  it("a recurrent layer's σ is recurrentNoiseScale times the one noise's, unless layerNoise names it", () => {
    const n = new Network({
      input: [4],
      layers: [dense({ name: 'h1', units: 3, neuron: lif() }), recurrent({ name: 'r', units: 3, neuron: lif() }), readout({ name: 'out', units: 2 })],
      seed: 1,
    });
    const one = escapeNoise('logistic', 0.5);
    const c = validate({ copies: 4, noise: one, recurrentNoiseScale: 0.2 });
    expect(c.recurrentNoiseScale).toBe(0.2);
    expect(noisePerLayer(n, c).map((x) => x?.sigma)).toEqual([0.5, 0.1, undefined]);
    const named = validate({ copies: 4, noise: one, layerNoise: { r: escapeNoise('logistic', 0.3) }, recurrentNoiseScale: 0.2 });
    expect(noisePerLayer(n, named).map((x) => x?.sigma)).toEqual([0.5, 0.3, undefined]);
    expect(() => validate({ copies: 4, noise: one, recurrentNoiseScale: 0 })).toThrow(/recurrentNoiseScale/);
    n.dispose();
  });

  it('a config maps to the library: layerNoise parsed, layerCopies as layer-wise injection', async () => {
    const c = await resolveConfig({
      flags: { method: 'lr', hidden: [3, 3], layerNoise: { hidden2: 'gaussian:0.2' }, layerCopies: { hidden1: 2, hidden2: 6 }, layerRates: { hidden1: 0.5 } },
    });
    const lr = lrConfigOf(c);
    expect(lr.layerNoise).toEqual({ hidden2: escapeNoise('gaussian', 0.2) });
    expect(lr.layerwise).toEqual({ hidden1: 2, hidden2: 6 });
    expect(lrConfigOf(defaultConfig('lr')).layerwise).toBeUndefined(); // one pass unless asked
  });

  it('bad input names what is wrong', async () => {
    await expect(resolveConfig({ flags: { method: 'bptt', layerCopies: { hidden: 4 } } })).rejects.toThrow(
      /layerCopies sets LR's noise per layer; method 'bptt' has no escape noise/,
    );
    await expect(resolveConfig({ flags: { method: 'lr', layerNoise: { hidden: 'logistic:0' } } })).rejects.toThrow(
      /--layer-noise has layer 'hidden'.*must be KIND:SIGMA/,
    );
    await expect(resolveConfig({ flags: { method: 'lr', layerRates: { hidden: -1 } } })).rejects.toThrow(
      /--layer-rates has layer 'hidden'.*must be a number in \(0, 1000000\]/,
    );
    await expect(resolveConfig({ flags: { method: 'lr', pipeline: 2, hidden: [4, 4], layerCopies: { hidden1: 4 } } })).rejects.toThrow(
      /layerCopies runs one pass per noisy layer/,
    );
  });
});

describe("'unit-all' credit", () => {
  const setup = (recurrentLayer: boolean) => {
    const net = new Network({
      input: [5],
      layers: [(recurrentLayer ? recurrent : dense)({ name: 'h', units: 6, neuron: lif({ threshold: 0.4 }) }), readout({ name: 'out', units: 3 })],
      seed: 4,
    });
    const batch = { input: tf.randomUniform([4, 6, 5], 0, 1, 'float32', 9), labels: tf.tensor1d([0, 1, 2, 1], 'int32') };
    return { net, batch };
  };
  const estimate = (s: ReturnType<typeof setup>, localCredit: 'unit' | 'unit-all') => {
    const e = likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5), baseline: 'loo', localCredit }).estimate(
      s.net,
      s.batch,
      membraneCrossEntropy('mean'),
      7,
    );
    const out = s.net.layers[0]!.params['weight']!;
    const g = Array.from(e.gradients.get(out)!.dataSync());
    e.dispose();
    return g;
  };
  it("equals 'unit' on a layer whose units fire independently, and differs from it on a recurrent one (where it credits each unit alone), for LR and fg-activity", () => {
    const dense1 = setup(false);
    expect(estimate(dense1, 'unit-all')).toEqual(estimate(dense1, 'unit'));
    const rec = setup(true);
    const a = estimate(rec, 'unit-all'),
      b = estimate(rec, 'unit');
    expect(a.some((x, i) => Math.abs(x - b[i]!) > 1e-6)).toBe(true);
    // activity perturbation the same way: per unit in a recurrent layer too with 'unit-all'
    const fga = (s: ReturnType<typeof setup>, localCredit: 'unit' | 'unit-all') => {
      const e = forwardGradient({ directions: 2, perturb: 'activities', localCredit }).estimate(s.net, s.batch, membraneCrossEntropy('mean'), 7);
      const g = Array.from(e.gradients.get(s.net.layers[0]!.params['weight']!)!.dataSync());
      e.dispose();
      return g;
    };
    expect(fga(dense1, 'unit-all')).toEqual(fga(dense1, 'unit'));
    const fa = fga(rec, 'unit-all'),
      fb = fga(rec, 'unit');
    expect(fa.some((x, i) => Math.abs(x - fb[i]!) > 1e-6)).toBe(true);
    for (const s of [dense1, rec]) {
      s.net.dispose();
      tf.dispose([s.batch.input, s.batch.labels]);
    }
  });
});

describe('per-layer names on the command line', () => {
  it('a name the network lacks is an error before the run directory is touched', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'spikelr-per-layer-'));
    const run = path.join(out, 'run');
    for (const [flags, message] of [
      [{ layerRates: { hiden: 2 } }, /layerRates names 'hiden', which is not a layer of this network; its layers: hidden, out/],
      [{ layerCopies: { out: 4 } }, /layerCopies names 'out', which has no escape noise/],
      [{ layerNoise: { out: 'logistic:0.3' } }, /layerNoise names 'out', which has no spiking or analog units/],
    ] as const) {
      const config = await resolveConfig({ flags: { method: 'lr', hidden: [8], trainLimit: 40, testLimit: 20, batchSize: 20, ...flags } });
      await expect(runTraining(config, { out: run })).rejects.toThrow(message);
      expect(existsSync(run)).toBe(false);
    }
    rmSync(out, { recursive: true, force: true });
  });
});
