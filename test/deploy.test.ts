/**
 * Deployment transforms against closed forms: the per-channel weight grid computed by hand, a
 * fixed-point LIF trace computed by hand and, on random currents, against the scalar reference
 * simulator rounding each step's state (test/reference.ts), the straight-through gradient, the
 * mismatch pattern's statistics and its reproducibility from its seed; then the trainer and
 * `finetune` (a run under quantized weights keeps float weights in its checkpoint, writes the
 * quantized ones as its model, and `eval` of that model gives the accuracy the run reported), and
 * clear errors for bad settings. LR's unbiasedness under mismatch is in lr-exact.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/cli/config.js';
import { runFinetune } from '../src/cli/finetune.js';
import { buildNetwork, loadSplits, lossOf } from '../src/cli/recipe.js';
import { runEvaluation, runTraining } from '../src/cli/train.js';
import { evaluateDataset, testSeed } from '../src/learning/trainer.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { forwardGradient } from '../src/learning/estimators/fg.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { deployedNeuron, isDeployed, mismatchPattern, quantizeState, type FixedPoint } from '../src/neurons/deployed.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { heaviside } from '../src/neurons/firing.js';
import { lif, modelOf, readoutNeuron, synaptic } from '../src/neurons/params.js';
import { deployment, deploySpecs, parseDeployment, quantizeChannels, withQuantizedWeights } from '../src/sim/deploy.js';
import { deserializeModel } from '../src/io/network-file.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { refNeurons } from './reference.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a population of `p` on currents `[T][N]` (batch 1) and returns the membrane and spikes per step. */
function simulate(p: Parameters<typeof modelOf>[0], currents: number[][]): { membrane: number[][]; spikes: number[][] } {
  const model = modelOf(p);
  let state = model.initialState(p as never, [1, currents[0]!.length]);
  const out = { membrane: [] as number[][], spikes: [] as number[][] };
  for (const [t, row] of currents.entries()) {
    const next = tf.tidy(() => model.step(tf.tensor2d([row]), state, p as never, heaviside, t, {}));
    out.membrane.push(Array.from(next.membrane.dataSync()));
    out.spikes.push(Array.from(next.spikes.dataSync()));
    tf.dispose(Object.values(state).filter((x) => x !== next.spikes));
    state = next;
  }
  tf.dispose(Object.values(state));
  return out;
}

/** The fixed-point rounding of a number, written out per mode. */
function roundTo(fp: FixedPoint): (v: number) => number {
  const scale = 2 ** fp.fraction,
    lo = -(2 ** (fp.bits - 1)),
    hi = 2 ** (fp.bits - 1) - 1;
  const r = { nearest: (k: number) => Math.floor(k + 0.5), floor: Math.floor, zero: Math.trunc }[fp.rounding];
  return (v) => Math.min(Math.max(r(v * scale), lo), hi) / scale;
}

describe('per-channel symmetric weight quantization', () => {
  it('puts each output channel on its own grid s_c·{−L…L}, s_c = max|w_c|/L (hand-computed)', () => {
    // 3 bits: L = 3. Column 0: peak 0.5, w/s = 3, −1.8, 0.6 → 3, −2, 1. Column 1: peak 0.2, w/s = −1.65, 3, 0.75 → −2, 3, 1
    const w = tf.tensor2d([
      [0.5, -0.11],
      [-0.3, 0.2],
      [0.1, 0.05],
    ]);
    const q = quantizeChannels(w, 3);
    const expected = [
      [0.5, -0.4 / 3],
      [-1 / 3, 0.2],
      [0.5 / 3, 0.2 / 3],
    ];
    const got = q.arraySync() as number[][];
    got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 6)));
    // idempotent (the peak is on its grid), and a channel of zeros stays zero
    const again = quantizeChannels(q, 3);
    expect(Array.from(again.dataSync())).toEqual(Array.from(q.dataSync()));
    // 4 bits: L = 7; column 1's s = 2/7, so 1.1 → 3.85 → 4 → 8/7, and −2 → −7 → −2
    const zero = quantizeChannels(
      tf.tensor2d([
        [0, 1.1],
        [0, -2],
      ]),
      4,
    );
    Array.from(zero.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([0, 8 / 7, 0, -2][i]!, 6));
    tf.dispose([w, q, again, zero]);
  });

  it('2 bits is ternary per channel, and a conv kernel [k, k, in, out] is quantized per output filter', () => {
    const w = tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 5);
    const q = quantizeChannels(w, 2);
    const wv = w.arraySync() as number[][][][],
      qv = q.arraySync() as number[][][][];
    for (let o = 0; o < 4; o++) {
      const col: number[] = [],
        qcol: number[] = [];
      for (let a = 0; a < 3; a++)
        for (let b = 0; b < 3; b++)
          for (let c = 0; c < 2; c++) {
            col.push(wv[a]![b]![c]![o]!);
            qcol.push(qv[a]![b]![c]![o]!);
          }
      const peak = Math.max(...col.map(Math.abs));
      col.forEach((v, i) => expect(qcol[i]).toBeCloseTo(Math.abs(v) >= peak / 2 ? Math.sign(v) * peak : 0, 5));
    }
    tf.dispose([w, q]);
  });

  it('withQuantizedWeights puts Q(W) in for the call and the float weights back bit for bit, also after a throw', () => {
    const net = new Network({ input: [5], layers: [dense({ name: 'h', units: 4 }), readout({ name: 'o', units: 3 })], seed: 3 });
    const before = net.layers.map((l) => Array.from(l.params['weight']!.dataSync()));
    const bias = Array.from(net.layers[0]!.params['bias']!.dataSync());
    withQuantizedWeights(net, 4, () => {
      net.layers.forEach((l, i) => {
        const q = quantizeChannels(tf.tensor(before[i]!, l.params['weight']!.shape), 4);
        expect(Array.from(l.params['weight']!.dataSync())).toEqual(Array.from(q.dataSync()));
        q.dispose();
      });
      expect(Array.from(net.layers[0]!.params['bias']!.dataSync())).toEqual(bias); // biases stay float
    });
    expect(() =>
      withQuantizedWeights(net, 4, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    net.layers.forEach((l, i) => expect(Array.from(l.params['weight']!.dataSync())).toEqual(before[i]));
    net.dispose();
  });
});

describe('fixed-point neuron state', () => {
  it('a LIF trace by hand: β = 0.9 on 4 fraction bits is 0.875, the state on a grid of 1/8', () => {
    const p = deployedNeuron(lif({ beta: 0.9, threshold: 1 }), { state: { bits: 8, fraction: 3 }, decayBits: 4 });
    // u1 = Q(0.3) = 0.25; u2 = Q(0.875·0.25 + 0.3 = 0.519) = 0.5; u3 = Q(0.7375) = 0.75; u4 = Q(0.956) = 1
    // (no spike: H(0) = 0); u5 = Q(1.175) = 1.125 → spike; u6 = Q(0.875·1.125 + 0.3 − 1 = 0.284) = 0.25
    const r = simulate(
      p,
      Array.from({ length: 6 }, () => [0.3]),
    );
    expect(r.membrane.map((m) => m[0])).toEqual([0.25, 0.5, 0.75, 1, 1.125, 0.25]);
    expect(r.spikes.map((s) => s[0])).toEqual([0, 0, 0, 0, 1, 0]);
  });

  it('rounds negative values by mode (nearest half up, floor, toward zero) and saturates at the ends', () => {
    const at = (rounding: FixedPoint['rounding'], current: number) =>
      simulate(deployedNeuron(lif({ beta: 0.5, reset: 'none' }), { state: { bits: 6, fraction: 3, rounding } }), [[current]]).membrane[0]![0];
    expect([at('nearest', -0.3), at('floor', -0.3), at('zero', -0.3)]).toEqual([-0.25, -0.375, -0.25]);
    expect([at('nearest', -0.3125), at('nearest', 0.3125)]).toEqual([-0.25, 0.375]); // k = ∓2.5: half up
    expect([at('nearest', 100), at('nearest', -100)]).toEqual([31 / 8, -4]); // 6 bits: k in [−32, 31]
  });

  it.each([
    ['LIF, subtract reset', lif({ beta: 0.83, threshold: 0.7 })],
    ['LIF, zero reset', lif({ beta: 0.9, threshold: 0.6, reset: 'zero' })],
    ['current-based LIF', synaptic({ alpha: 0.7, beta: 0.85, threshold: 0.8 })],
    ['readout', readoutNeuron({ beta: 0.9 })],
  ])('%s with mismatch and fixed point matches the reference rounding every step', (_name, inner) => {
    const fp: FixedPoint = { bits: 12, fraction: 7, rounding: 'floor' };
    const mismatch = { threshold: inner.kind === 'readout' ? 0 : 0.1, beta: 0.05, seed: 9 };
    const p = deployedNeuron(inner, { state: fp, decayBits: 10, mismatch });
    const n = 6,
      T = 20;
    const currents = Array.from({ length: T }, (_, t) => Array.from({ length: n }, (_, k) => 0.45 * Math.sin(1.3 * t + k) + 0.25));
    const got = simulate(p, currents);
    const round = roundTo(fp);
    const fb = mismatchPattern(mismatch, 'beta', [n]),
      ft = mismatchPattern(mismatch, 'threshold', [n]);
    const rec = inner as unknown as { beta: number; threshold?: number };
    const beta = Array.from(fb, (f) => Math.floor(Math.min(rec.beta * f, 1) * 1024 + 0.5) / 1024);
    const threshold = rec.threshold === undefined ? undefined : Array.from(ft, (f) => Math.max(round(rec.threshold! * f), 2 ** -fp.fraction));
    const ref = refNeurons(inner, currents, undefined, undefined, { beta, ...(threshold ? { threshold } : {}) }, round);
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < n; k++) {
        // on the grid: equal up to float32's own rounding of the inputs
        expect(got.membrane[t]![k]).toBeCloseTo(ref.membrane[t]![k]!, 5);
        expect(got.spikes[t]![k]).toBe(ref.spikes[t]![k]);
      }
    }
    expect(got.spikes.flat().some((s) => s === 1) || inner.kind === 'readout').toBe(true);
  });

  it('the rounding passes its gradient straight through, and none where the value saturates', () => {
    const fp: FixedPoint = { bits: 4, fraction: 2, rounding: 'nearest' }; // k in [−8, 7]: values in [−2, 1.75]
    const x = tf.tensor1d([-3, -1.1, 0.4, 1.7, 2.5]);
    const w = tf.tensor1d([1, 2, 3, 4, 5]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(quantizeState(v, fp), w)))(x);
    expect(Array.from(g.dataSync())).toEqual([0, 2, 3, 4, 0]);
    tf.dispose([x, w, g]);
  });
});

describe('device mismatch', () => {
  it('is a fixed pattern 1 + σε: the same from its seed, another from another seed, ε standard normal', () => {
    const m = { threshold: 0.1, beta: 0, seed: 4 };
    const a = mismatchPattern(m, 'threshold', [20000]);
    expect(Array.from(mismatchPattern({ ...m }, 'threshold', [20000]))).toEqual(Array.from(a));
    const b = mismatchPattern({ ...m, seed: 5 }, 'threshold', [20000]);
    expect(Array.from(b.slice(0, 10))).not.toEqual(Array.from(a.slice(0, 10)));
    const eps = Array.from(a, (f) => (f - 1) / 0.1);
    const mean = eps.reduce((s, e) => s + e, 0) / eps.length;
    const sd = Math.sqrt(eps.reduce((s, e) => s + (e - mean) ** 2, 0) / (eps.length - 1));
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(eps.length)); // 5 standard errors of the mean
    expect(Math.abs(sd - 1)).toBeLessThan(5 * Math.sqrt(0.5 / eps.length)); // sd's standard error ≈ 1/√(2n)
  });

  it('each layer of a deployed network has its own pattern, the same in every build', () => {
    const layers = deploySpecs(
      [dense({ name: 'a', units: 8 }), dense({ name: 'b', units: 8 }), readout({ name: 'o', units: 2 })],
      deployment({ thresholdMismatch: 0.1, decayMismatch: 0.05, mismatchSeed: 2 }),
    );
    const seeds = layers.map((l) => (l as { neuron: { mismatch: { seed: number } } }).neuron.mismatch.seed);
    expect(new Set(seeds).size).toBe(3);
    const again = deploySpecs(
      [dense({ name: 'a', units: 8 }), dense({ name: 'b', units: 8 }), readout({ name: 'o', units: 2 })],
      deployment({ thresholdMismatch: 0.1, decayMismatch: 0.05, mismatchSeed: 2 }),
    );
    expect(again).toEqual(layers);
    // the readout has a decay but no threshold: it takes the decay's mismatch alone
    expect((layers[2] as { neuron: { mismatch: { threshold: number; beta: number } } }).neuron.mismatch).toMatchObject({ threshold: 0, beta: 0.05 });
  });
});

describe('every learner trains a deployed network, with no tensor left behind', () => {
  const DEPLOY = deployment({ state: { bits: 12, fraction: 6 }, decayBits: 8, thresholdMismatch: 0.1, decayMismatch: 0.05 });
  const spec = {
    input: [6],
    layers: deploySpecs(
      [dense({ name: 'h', units: 5, neuron: lif({ beta: 0.9, threshold: 0.5 }), learn: ['beta', 'threshold'] }), readout({ name: 'o', units: 3 })],
      DEPLOY,
    ),
    seed: 2,
  };
  it.each([
    ['lr', likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.4) })],
    ['bptt', bptt()],
    ['fg', forwardGradient({ directions: 2 })],
    ['fg-activity', forwardGradient({ directions: 2, perturb: 'activities' })],
  ] as const)('%s: finite gradients for every parameter, live tensors flat across steps', (m, est) => {
    // activity perturbation does not reach learned neuron coefficients
    const net = new Network(
      m === 'fg-activity'
        ? {
            ...spec,
            layers: deploySpecs([dense({ name: 'h', units: 5, neuron: lif({ beta: 0.9, threshold: 0.5 }) }), readout({ name: 'o', units: 3 })], DEPLOY),
          }
        : spec,
    );
    const input = tf.randomUniform([4, 5, 6], 0, 1, 'float32', 1),
      labels = tf.tensor1d([0, 1, 2, 0], 'int32');
    const step = (seed: number) =>
      withQuantizedWeights(net, 4, () => {
        const e = est.estimate(net, { input, labels }, membraneCrossEntropy(), seed);
        for (const g of e.gradients.values()) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
        expect(e.gradients.size).toBe(Object.keys(net.layers[0]!.params).length + Object.keys(net.layers[1]!.params).length);
        e.dispose();
      });
    step(1);
    const live = tf.memory().numTensors;
    step(2);
    step(3);
    expect(tf.memory().numTensors).toBe(live);
    tf.dispose([input, labels]);
    net.dispose();
  });
});

describe('fine-tuning a trained run under a deployment', () => {
  const base = { trainLimit: 300, testLimit: 200, hidden: [40], steps: 6, encoding: 'direct' as const, batchSize: 50, epochs: 1, checkpointEvery: 3 };

  it('finetune deploys, reports where it started, trains the float weights and writes the quantized model that eval scores as reported', async () => {
    const source = path.join(dir, 'src');
    await runTraining(await resolveConfig({ flags: { ...base, method: 'lr' } }), { out: source });
    const deploy = parseDeployment('weights=4,state=12.6,rounding=floor,decay=8,mismatch=0.05,decay-mismatch=0.02,mismatch-seed=3')!;
    const out = path.join(dir, 'ft-bptt');
    const summary = await runFinetune(source, { method: 'bptt', deploy, maxSteps: 4 }, { out });
    expect(summary.steps).toBe(4);
    // where it started: the source as trained, and as deployed (computed here by building the deployed network)
    const config = await resolveConfig({ file: path.join(out, 'config.json'), flags: {} }); // the source's recipe, method bptt, deployed
    expect(config).toMatchObject({ method: 'bptt', deploy, init: path.join(source, 'model.safetensors') });
    const { test } = await loadSplits(config);
    const sourceRun = await runEvaluation({ target: source, flags: {} });
    expect(summary.sourceTestAccuracy).toBe(sourceRun['accuracy']);
    const deployed = buildNetwork(config, test.inputShape, test.classes);
    const trained = deserializeModel(readFileSync(path.join(source, 'model.safetensors'))).net;
    deployed.layers.forEach((l, i) => Object.entries(l.params).forEach(([n, v]) => v.assign(trained.layers[i]!.params[n]!)));
    const before = withQuantizedWeights(deployed, 4, () =>
      evaluateDataset(deployed, test, { seed: testSeed(config.seed), loss: lossOf(config), accuracy: config.accuracy }),
    );
    expect(summary.deployedTestAccuracy).toBe(before.accuracy);
    // and what `spikelr eval --deploy` says of the source
    expect((await runEvaluation({ target: source, flags: { deploy } }))['accuracy']).toBe(before.accuracy);
    // the model file holds the quantized weights (each column on its grid) and the deployed neurons; eval reproduces the run's accuracy
    const model = deserializeModel(readFileSync(path.join(out, 'model.safetensors'))).net;
    for (const l of model.layers) {
      const w = l.params['weight']!,
        q = quantizeChannels(w, 4);
      expect(Array.from(w.dataSync())).toEqual(Array.from(q.dataSync()));
      q.dispose();
      expect(isDeployed(l.neuron!)).toBe(true);
    }
    expect((await runEvaluation({ target: out, flags: {} }))['accuracy']).toBe(summary.testAccuracy);
    // the checkpoint holds the float weights the optimizer updates (off the grid)
    const checkpoint = deserializeModel(readFileSync(path.join(out, 'checkpoint.safetensors'))).net;
    const w = checkpoint.layers[0]!.params['weight']!,
      q = quantizeChannels(w, 4);
    expect(Array.from(w.dataSync())).not.toEqual(Array.from(q.dataSync()));
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as Record<string, unknown>;
    expect(metrics).toMatchObject({
      source,
      sourceTestAccuracy: summary.sourceTestAccuracy,
      deployedTestAccuracy: summary.deployedTestAccuracy,
      testAccuracy: summary.testAccuracy,
    });
    tf.dispose([q]);
    for (const n of [deployed, trained, model, checkpoint]) n.dispose();
    expect(existsSync(path.join(out, 'config.json'))).toBe(true);
  });

  it('bad settings get errors that say what is wrong', async () => {
    expect(() => deployment({ weightBits: 9 })).toThrow(/weightBits must be 2–8/);
    expect(() => deployment({ weightBits: 1 })).toThrow(/weightBits/);
    expect(() => deployment({ state: { bits: 8, fraction: 8, rounding: 'nearest' } })).toThrow(/fraction bits \(8\) must be fewer than its bits \(8\)/);
    expect(() => deployment({ state: { bits: 30, fraction: 8, rounding: 'nearest' } })).toThrow(/at most 24/);
    expect(() => deployment({ thresholdMismatch: 2 })).toThrow(/relative standard deviation in \[0, 1\]/);
    expect(() => parseDeployment('weights=4,colour=blue')).toThrow(/unknown setting 'colour'/);
    expect(() => parseDeployment('state=16')).toThrow(/BITS.FRACTION/);
    expect(() => parseDeployment('rounding=floor')).toThrow(/give state=BITS.FRACTION too/);
    expect(() => deployedNeuron(readoutNeuron(), { mismatch: { threshold: 0.1 } })).toThrow(/'readout' neuron has no threshold/);
    await expect(runEvaluation({ target: path.join(dir, 'ft-bptt'), flags: { deploy: deployment({ weightBits: 4 }) } })).rejects.toThrow(/deployed already/);
    await expect(resolveConfig({ flags: { decorrelate: 'all', deploy: deployment({ weightBits: 4 }) } })).rejects.toThrow(
      /decorrelated layers compute with the fused W R/,
    );
    await expect(resolveConfig({ flags: { deploy: { weightBits: 4, colour: 1 } as never } })).rejects.toThrow(/not a valid deployment.*colour/);
    // a model of another network
    await expect(
      runTraining(await resolveConfig({ flags: { ...base, hidden: [41], init: path.join(dir, 'src') } }), { out: path.join(dir, 'bad-init') }),
    ).rejects.toThrow(/init: .*'hidden.weight' is 784x40, the configured network's 784x41/);
  });
});
