/**
 * A tfjs-layers model, built and saved here by tfjs itself in its model.json + weights.bin layout,
 * imported as a spikelr network of analog units: its outputs against tfjs's own `predict` (the
 * independent truth), clear errors for what spikelr cannot map, and LR fine-tuning through
 * forward passes alone lowering the held-out loss.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storedSequences } from '../src/data/dataset.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { evaluateDataset, train } from '../src/learning/trainer.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { uniform } from '../src/core/random.js';
import { importLayersModel } from '../src/io/tfjs-layers.js';
import { importCommand } from '../src/cli/nir.js';
import { runFinetune } from '../src/cli/finetune.js';
import { runEvaluation } from '../src/cli/train.js';
import { loadMnist } from '../src/data/mnist.js';
import { deployment } from '../src/sim/deploy.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-tfjs-layers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Saves `model` as tfjs's file handler does: model.json (topology, weights manifest) and weights.bin. */
async function save(model: tf.LayersModel, name: string): Promise<string> {
  const folder = path.join(dir, name);
  const file = path.join(folder, 'model.json');
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(folder, { recursive: true });
      writeFileSync(path.join(folder, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
      writeFileSync(
        file,
        JSON.stringify({
          modelTopology: a.modelTopology,
          format: a.format,
          generatedBy: a.generatedBy,
          weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
        }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return file;
}

/** The imported network's class probabilities: softmax of its readout after one step. */
function probabilities(file: Awaited<ReturnType<typeof importLayersModel>>, x: tf.Tensor): Float32Array {
  const r = file.run(tf.expandDims(x, 1));
  const p = tf.tidy(() => tf.softmax(tf.squeeze(r.output, [1])));
  const out = p.dataSync() as Float32Array;
  r.dispose();
  p.dispose();
  return out;
}

const seeded = (seed: number) => ({
  kernelInitializer: tf.initializers.glorotUniform({ seed }),
  biasInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: seed + 1 }),
});

describe('tfjs-layers models as spikelr networks', () => {
  it('a conv net (conv, max pooling, flatten, dense, dropout, softmax) gives the outputs of tfjs predict', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', ...seeded(1) }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 5, kernelSize: 2, padding: 'same', activation: 'tanh', ...seeded(3) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 12, activation: 'sigmoid', ...seeded(5) }),
        tf.layers.dropout({ rate: 0.3 }),
        tf.layers.dense({ units: 3, activation: 'softmax', ...seeded(7) }),
      ],
    });
    const file = await save(model, 'conv');
    const net = await importLayersModel(file);
    expect(net.layers.map((l) => l.spec.kind)).toEqual(['conv2d', 'maxPool2d', 'conv2d', 'flatten', 'dense', 'readout']);
    const x = tf.randomUniform([6, 8, 8, 1], 0, 1, 'float32', 9);
    const expected = (model.predict(x) as tf.Tensor).dataSync();
    const got = probabilities(net, x);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    tf.dispose([x]);
    model.dispose();
    net.dispose();
  });

  it('an MLP with an Activation layer and a linear output: the logits', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [7], units: 9, ...seeded(11) }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.dense({ units: 4, ...seeded(13) }),
      ],
    });
    const net = await importLayersModel(await save(model, 'mlp'));
    const x = tf.randomNormal([5, 7], 0, 1, 'float32', 2);
    const logits = (model.predict(x) as tf.Tensor).dataSync();
    const r = net.run(tf.expandDims(x, 1));
    Array.from(r.output.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(logits[i]!, 5));
    r.dispose();
    tf.dispose([x]);
    model.dispose();
    net.dispose();
  });

  it('refuses what it cannot map, naming the layer', async () => {
    const bn = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.batchNormalization(), tf.layers.dense({ units: 2 })] });
    await expect(importLayersModel(await save(bn, 'bn'))).rejects.toThrow(
      /layer '.*' \(BatchNormalization\): spikelr imports Dense, Conv2D, MaxPooling2D, Flatten/,
    );
    const soft = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' }), tf.layers.dense({ units: 2 })] });
    await expect(importLayersModel(await save(soft, 'soft'))).rejects.toThrow(
      /activation 'softmax' has no analog unit in spikelr .*softmax only at the output/,
    );
    const elu = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'elu' }), tf.layers.dense({ units: 2 })] });
    await expect(importLayersModel(await save(elu, 'elu'))).rejects.toThrow(/activation 'elu' has no analog unit/);
    const bad = path.join(dir, 'graph.json');
    writeFileSync(bad, JSON.stringify({ modelTopology: null, weightsManifest: [] }));
    await expect(importLayersModel(bad)).rejects.toThrow(/not a tfjs-layers model/);
    for (const m of [bn, soft, elu]) m.dispose();
  });

  it('spikelr import and finetune: the imported model scores what tfjs predicts, and fine-tunes as deployed', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [784], units: 20, activation: 'relu', ...seeded(31) }),
        tf.layers.dense({ units: 10, activation: 'softmax', ...seeded(33) }),
      ],
    });
    const out = path.join(dir, 'imported');
    const summary = await importCommand(await save(model, 'mnist-mlp'), { out });
    expect(summary).toMatchObject({ format: 'tfjs-layers', input: [784] });
    expect(summary['layers']).toEqual([expect.stringMatching(/: dense \(analog relu\)$/), expect.stringMatching(/: readout \(readout\)$/)]);
    const test = await loadMnist('test', { limit: 200 });
    const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor2d(test.images, [test.count, 784])) as tf.Tensor, 1).dataSync());
    const tfjsAccuracy = Array.from(predicted).filter((p, i) => p === test.labels[i]).length / test.count;
    const ft = await runFinetune(
      out,
      { trainLimit: 300, testLimit: 200, maxSteps: 4, batchSize: 50, deploy: deployment({ weightBits: 4 }) },
      { out: path.join(dir, 'imported-ft') },
    );
    expect(ft.sourceTestAccuracy).toBe(tfjsAccuracy);
    expect(ft.steps).toBe(4);
    expect(ft.deployedTestAccuracy).not.toBeNull();
    expect((await runEvaluation({ target: path.join(dir, 'imported-ft'), flags: {} }))['accuracy']).toBe(ft.testAccuracy);
    model.dispose();
  });

  it('LR fine-tunes the imported model through forward passes alone: the held-out loss falls', async () => {
    // a teacher's labels on 10-D inputs; the student is a freshly initialised tfjs MLP
    const n = 900,
      d = 10,
      classes = 3;
    const u = uniform(n * d, 41);
    const x = Float32Array.from(u, (v) => 2 * v - 1);
    const teacher = Array.from(uniform(d * classes, 42), (v) => 2 * v - 1);
    const labels = Int32Array.from({ length: n }, (_, i) => {
      const score = [0, 1, 2].map((k) => x.subarray(i * d, (i + 1) * d).reduce((s, v, j) => s + v * teacher[j * classes + k]!, 0));
      return score.indexOf(Math.max(...score));
    });
    const all = (from: number, to: number) => storedSequences(x.slice(from * d, to * d), labels.slice(from, to), { steps: 1, inputShape: [d], classes });
    const trainSet = all(0, 600),
      test = all(600, n);
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [d], units: 16, activation: 'tanh', ...seeded(21) }),
        tf.layers.dense({ units: classes, activation: 'softmax', ...seeded(23) }),
      ],
    });
    const net = await importLayersModel(await save(model, 'student'));
    const loss = membraneCrossEntropy();
    const before = evaluateDataset(net, test, { seed: 1, loss });
    await train(net, likelihoodRatio({ copies: 8, noise: escapeNoise('gaussian', 0.2) }), loss, trainSet, test, {
      epochs: 4,
      batchSize: 30,
      seed: 3,
      optimizer: { kind: 'adam', learningRate: 0.01 },
    });
    const after = evaluateDataset(net, test, { seed: 1, loss });
    expect(after.loss).toBeLessThan(0.7 * before.loss);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.2);
    model.dispose();
    net.dispose();
  });
});
