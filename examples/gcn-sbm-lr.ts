/**
 * Semi-supervised node classification with a two-layer GCN trained by LR (Gaussian noise on both
 * graph convolutions' pre-activations, copies weighted by their whole-graph loss): a stochastic
 * block model of 4 blocks of 50 nodes, one-hot node features, 10 labelled nodes per block.
 *
 *     npm run build && node dist/examples/gcn-sbm-lr.js [--steps 600] [--json out.json]
 */
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { stochasticBlockModel } from '../src/data/graphs.js';
import { maskedLoss, membraneCrossEntropy, predict } from '../src/learning/losses.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { analog } from '../src/neurons/params.js';
import { graphConv, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '600' },
    copies: { type: 'string', default: '32' },
    sigma: { type: 'string', default: '0.1' },
    lr: { type: 'string', default: '0.02' },
    seed: { type: 'string', default: '0' },
    json: { type: 'string' },
    backend: { type: 'string' },
  },
});
const backend = await initBackend({ backend: a.backend });
const seed = Number(a.seed);
const graph = stochasticBlockModel({ blocks: [50, 50, 50, 50], pIn: 0.1, pOut: 0.01, seed });
const n = graph.nodes;
const labelled = Float32Array.from(graph.labels, (_, i) => (i % 50 < 10 ? 1 : 0)); // 10 per block
const net = new Network({
  input: [n],
  layers: [
    graphConv({ name: 'gcn1', units: 16, nodes: n, edges: graph.edges, neuron: analog({ activation: 'relu' }) }),
    graphConv({ name: 'gcn2', units: 16, nodes: n, edges: graph.edges, neuron: analog({ activation: 'relu' }) }),
    readout({ name: 'out', units: graph.classes, beta: 0 }),
  ],
  seed,
});
const input = tf.tidy(() => tf.reshape(tf.eye(n), [n, 1, n])); // one-hot node features, one step
const labels = tf.tensor1d(graph.labels, 'int32');
const mask = tf.tensor1d(labelled);
const loss = maskedLoss(membraneCrossEntropy('mean'), mask);
const estimator = likelihoodRatio({ copies: Number(a.copies), noise: escapeNoise('gaussian', Number(a.sigma)), score: 'noise', baseline: 'loo' });
const optimizer = tf.train.adam(Number(a.lr));
const config = {
  nodes: n,
  edges: graph.edges.length,
  labelled: 40,
  copies: Number(a.copies),
  sigma: Number(a.sigma),
  lr: Number(a.lr),
  seed,
  estimator: estimator.name,
  backend: backend.name,
};
console.log(JSON.stringify({ config }));

function accuracy(): { labelled: number; unlabelled: number } {
  const r = net.run(input);
  const pred = tf.tidy(() => predict(tf.transpose(r.output, [1, 0, 2]))).dataSync();
  r.dispose();
  let hitL = 0,
    hitU = 0;
  for (let i = 0; i < n; i++) labelled[i] ? (hitL += +(pred[i] === graph.labels[i])) : (hitU += +(pred[i] === graph.labels[i]));
  return { labelled: hitL / 40, unlabelled: hitU / (n - 40) };
}

const history: { step: number; loss: number; labelledAccuracy: number; unlabelledAccuracy: number; seconds: number }[] = [];
const start = performance.now();
for (let step = 1; step <= Number(a.steps); step++) {
  const e = estimator.estimate(net, { input, labels }, loss, step);
  optimizer.applyGradients([...e.gradients].map(([v, g]) => ({ name: v.name, tensor: g })));
  if (step % 50 === 0 || step === 1) {
    const acc = accuracy();
    const row = {
      step,
      loss: Number(e.loss.toFixed(4)),
      labelledAccuracy: acc.labelled,
      unlabelledAccuracy: acc.unlabelled,
      seconds: Number(((performance.now() - start) / 1000).toFixed(1)),
    };
    history.push(row);
    console.log(JSON.stringify(row));
  }
  e.dispose();
}
if (a.json) writeFileSync(a.json, `${JSON.stringify({ config, history }, null, 2)}\n`);
tf.dispose([input, labels, mask]);
net.dispose();
