/**
 * The trainer: a run that crashes and is resumed from its last checkpoint ends with the same
 * weights, bit for bit, and the same metrics log as a run that never stopped; validation split and
 * early stopping; the optimizers against their update equations written out by hand.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageSequences, type Dataset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio, type Estimator } from '../src/learning/estimators/lr.js';
import { optimizer } from '../src/learning/optim.js';
import { METRICS_LOG, train, type TrainOptions } from '../src/learning/trainer.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { resolveConfig } from '../src/cli/config.js';
import { runTraining } from '../src/cli/train.js';
import { reportCommand } from '../src/cli/report.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-trainer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const small = async (): Promise<{ trainSet: Dataset; test: Dataset }> => {
  const [a, b] = [await loadMnist('train', { limit: 256 }), await loadMnist('test', { limit: 100 })];
  const o = { steps: 6, encoding: 'rate' as const };
  return { trainSet: imageSequences(a, o), test: imageSequences(b, o) };
};

const build = (seed = 5, decorrelate = false) =>
  new Network({
    input: [784],
    layers: [
      dense({ name: 'hidden', units: 24, neuron: lif({ beta: 0.9 }), learn: ['beta'] }),
      readout({ name: 'out', units: 10, beta: 0.9, decorrelate: decorrelate && { learningRate: 0.01 } }),
    ],
    seed,
  });

const parameters = (net: Network) => net.layers.flatMap((l) => Object.entries(l.params).map(([p, v]) => [`${l.name}.${p}`, Array.from(v.dataSync())] as const));

/** metrics.jsonl without wall-clock fields. */
const metricsOf = (runDir: string) =>
  readFileSync(path.join(runDir, METRICS_LOG), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, trainSeconds: _t, peakTensorBytes: _p, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

describe('resume after a crash', () => {
  const cases: [string, () => Estimator, Partial<TrainOptions>, boolean?][] = [
    [
      'LR, Adam, cosine schedule, test evaluations every 3 steps',
      () => likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5) }),
      { optimizer: { kind: 'adam', learningRate: 2e-3 }, schedule: 'cosine', evalEvery: 3 },
    ],
    [
      'BPTT, SGD with momentum, validation split',
      () => bptt(),
      { optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 }, validation: 0.25, schedule: '0.5 ^ epoch' },
    ],
    [
      'LR with a decorrelated readout (R and its input mean resume too)',
      () => likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5) }),
      { optimizer: { kind: 'adam', learningRate: 2e-3 } },
      true,
    ],
  ];
  it.each(cases)('%s: ends bit-for-bit where the uninterrupted run ends', async (name, estimator, extra, decorrelate = false) => {
    const { trainSet, test } = await small();
    const options = (runDir: string, more: Partial<TrainOptions> = {}): TrainOptions => ({
      epochs: 2,
      batchSize: 32,
      seed: 11,
      optimizer: { kind: 'adam', learningRate: 1e-3 },
      runDir,
      checkpointEvery: 4,
      logEvery: 1,
      ...extra,
      ...more,
    });
    const loss = membraneCrossEntropy();

    const whole = build(5, decorrelate);
    const wholeDir = path.join(dir, `${name}-whole`);
    const reference = await train(whole, estimator(), loss, trainSet, test, options(wholeDir));
    expect(reference.steps).toBe(2 * Math.floor((trainSet.count * (1 - (extra.validation ?? 0))) / 32));

    // the run crashes after step 7: the checkpoint of step 4 survives, steps 5–7 are lost
    const crashDir = path.join(dir, `${name}-crash`);
    const crashed = build(5, decorrelate);
    await expect(
      train(
        crashed,
        estimator(),
        loss,
        trainSet,
        test,
        options(crashDir, {
          onStep: ({ step }) => {
            if (step === 7) throw new Error('simulated crash');
          },
        }),
      ),
    ).rejects.toThrow('simulated crash');
    crashed.dispose();

    // a fresh process would build a fresh network: its initial weights must not matter
    const resumedNet = build(99, decorrelate);
    const resumed = await train(resumedNet, estimator(), loss, trainSet, test, options(crashDir, { resume: true }));

    expect(parameters(resumedNet)).toEqual(parameters(whole));
    if (decorrelate)
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(whole.layer('out').params['decorrelation']!, tf.eye(24)))).dataSync()[0]!)).toBeGreaterThan(1e-3);
    expect(resumed.history.map((h) => h.testAccuracy)).toEqual(reference.history.map((h) => h.testAccuracy));
    expect(metricsOf(crashDir)).toEqual(metricsOf(wholeDir));
    whole.dispose();
    resumedNet.dispose();
  });

  it('a resume without a checkpoint says so', async () => {
    const { trainSet, test } = await small();
    const net = build();
    await expect(
      train(net, bptt(), membraneCrossEntropy(), trainSet, test, {
        epochs: 1,
        batchSize: 32,
        seed: 1,
        optimizer: { kind: 'adam', learningRate: 1e-3 },
        runDir: path.join(dir, 'empty'),
        resume: true,
      }),
    ).rejects.toThrow(/resume: no checkpoint in .*empty/);
    net.dispose();
  });
});

describe('evaluations between epochs', () => {
  it("evalEvery logs the test accuracy against train seconds; at an epoch's last step it is the epoch's", async () => {
    const { trainSet, test } = await small();
    const net = build();
    const runDir = path.join(dir, 'eval-every');
    const r = await train(net, bptt(), membraneCrossEntropy(), trainSet, test, {
      epochs: 1,
      batchSize: 32,
      seed: 2,
      optimizer: { kind: 'adam', learningRate: 2e-3 },
      runDir,
      evalEvery: 4,
    });
    const evals = readFileSync(path.join(runDir, METRICS_LOG), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .filter((l) => l['type'] === 'eval');
    expect(evals.map((e) => e['step'])).toEqual([4, 8]);
    expect(evals[1]!['testAccuracy']).toBe(r.history[0]!.testAccuracy);
    expect(evals[1]!['seconds']).toBe(r.trainSeconds);
    expect(evals[0]!['seconds']).toBeLessThan(evals[1]!['seconds'] as number);
    net.dispose();
  });
});

describe('evaluations between epochs in the report', () => {
  it('spikelr report draws every evaluation: the accuracy charts have a point per eval line and epoch end', async () => {
    const runDir = path.join(dir, 'eval-report');
    await runTraining(
      await resolveConfig({ flags: { method: 'bptt', trainLimit: 200, testLimit: 50, hidden: [16], steps: 4, batchSize: 40, epochs: 2, evalEvery: 2 } }),
      { out: runDir },
    );
    const figures = path.join(dir, 'eval-report-figures');
    await reportCommand(runDir, { figures, pdf: false });
    const lines = readFileSync(path.join(runDir, METRICS_LOG), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step?: number; steps?: number });
    const steps = new Set(lines.filter((l) => l.type === 'eval' || l.type === 'epoch').map((l) => l.step ?? l.steps));
    expect(steps).toEqual(new Set([2, 4, 5, 6, 8, 10]));
    for (const name of readdirSync(figures).filter((f) => /test-accuracy/.test(f))) {
      expect(readFileSync(path.join(figures, name), 'utf8').match(/<circle/g)?.length, name).toBe(steps.size);
    }
  });
});

describe('tensor memory', () => {
  it('a training run with validation, checkpoints and evaluation leaves no tensor behind, and its step count stays flat', async () => {
    const { trainSet, test } = await small();
    const net = build();
    const before = tf.memory().numTensors;
    const during: number[] = [];
    await train(net, likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5) }), membraneCrossEntropy(), trainSet, test, {
      epochs: 2,
      batchSize: 32,
      seed: 3,
      optimizer: { kind: 'adam', learningRate: 1e-3 },
      validation: 0.25,
      runDir: path.join(dir, 'memory'),
      checkpointEvery: 2,
      onStep: () => void during.push(tf.memory().numTensors),
    });
    // from the second step on, the optimizer's state exists and nothing else accumulates
    expect(new Set(during.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });
});

describe('validation and early stopping', () => {
  it("stops after `patience` epochs without a better validation accuracy and keeps the best epoch's weights", async () => {
    const { trainSet, test } = await small();
    const net = build();
    // a learning rate of 0 never improves on the first epoch: the run must stop after 1 + patience epochs
    const r = await train(net, bptt(), membraneCrossEntropy(), trainSet, test, {
      epochs: 10,
      batchSize: 64,
      seed: 2,
      optimizer: { kind: 'sgd', learningRate: 1 },
      schedule: '0',
      validation: 0.25,
      patience: 2,
    });
    expect(r.stopped).toBe('early-stopping');
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(r.bestEpoch).toBe(1);
    net.dispose();
  });

  it('rejects early stopping without a validation split', async () => {
    const { trainSet, test } = await small();
    const net = build();
    await expect(
      train(net, bptt(), membraneCrossEntropy(), trainSet, test, {
        epochs: 1,
        batchSize: 32,
        seed: 1,
        optimizer: { kind: 'adam', learningRate: 1e-3 },
        patience: 2,
      }),
    ).rejects.toThrow(/patience\) needs a validation split/);
    net.dispose();
  });
});

describe('optimizers follow their update equations', () => {
  const g1 = [0.5, -2, 0.001],
    g2 = [-0.25, 1, 3];
  const steps = (kind: 'adam' | 'sgd', extra: object) => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = optimizer({ kind, learningRate: 0.1, ...extra });
    for (const g of [g1, g2]) {
      const grad = tf.tensor1d(g);
      opt.apply(new Map([[v, grad]]));
      grad.dispose();
    }
    const out = Array.from(v.dataSync());
    opt.dispose();
    v.dispose();
    return out;
  };

  it('Adam with bias correction', () => {
    const [b1, b2, eps, lr] = [0.9, 0.999, 1e-8, 0.1];
    const want = [1, 2, 3].map((theta, i) => {
      let m = 0,
        s = 0;
      [g1[i]!, g2[i]!].forEach((g, t) => {
        m = b1 * m + (1 - b1) * g;
        s = b2 * s + (1 - b2) * g * g;
        theta -= (lr * (m / (1 - b1 ** (t + 1)))) / (Math.sqrt(s / (1 - b2 ** (t + 1))) + eps);
      });
      return theta;
    });
    steps('adam', {}).forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 5));
  });

  it("SGD with momentum and with Nesterov momentum (PyTorch's form)", () => {
    for (const nesterov of [false, true]) {
      const want = [1, 2, 3].map((theta, i) => {
        let b = 0;
        [g1[i]!, g2[i]!].forEach((g, t) => {
          b = t === 0 ? g : 0.9 * b + g;
          theta -= 0.1 * (nesterov ? g + 0.9 * b : b);
        });
        return theta;
      });
      steps('sgd', { momentum: 0.9, nesterov }).forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 6));
    }
  });

  it('rejects bad settings by name', () => {
    expect(() => optimizer({ kind: 'adagrad' as 'adam', learningRate: 1 })).toThrow(/optimizer: unknown kind 'adagrad'; expected one of 'adam', 'sgd'/);
    expect(() => optimizer({ kind: 'sgd', learningRate: -1 })).toThrow(/learningRate must be > 0, got -1/);
    expect(() => optimizer({ kind: 'sgd', learningRate: 1, momentum: 1.5 })).toThrow(/momentum must be in/);
  });
});
