import {
  dense,
  escapeNoise,
  imageSequences,
  initBackend,
  lif,
  likelihoodRatio,
  loadMnist,
  membraneCrossEntropy,
  Network,
  readout,
  train,
} from '../src/index.js';

await initBackend(); // wasm unless a native backend is installed; prints which and why
const net = new Network({
  input: [784],
  layers: [dense({ name: 'hidden', units: 500, neuron: lif({ beta: 0.9 }) }), readout({ name: 'out', units: 10, beta: 0.9 })],
  seed: 0,
});
const digits = { steps: 10, encoding: 'direct' as const }; // each image is the input current of 10 steps
const trainSet = imageSequences(await loadMnist('train', { limit: 10_000 }), digits);
const testSet = imageSequences(await loadMnist('test'), digits);
// gradients from forward passes only: 8 noisy copies of each sample, a leave-one-out baseline
const lr = likelihoodRatio({ copies: 8, noise: escapeNoise('logistic', 0.5), baseline: 'loo', localCredit: 'unit' });
const result = await train(net, lr, membraneCrossEntropy('mean'), trainSet, testSet, {
  epochs: 1,
  batchSize: 100,
  seed: 0,
  optimizer: { kind: 'adam', learningRate: 3e-3 },
  schedule: 'cosine',
});
console.log(`test accuracy ${(100 * result.testAccuracy!).toFixed(2)}%`);
