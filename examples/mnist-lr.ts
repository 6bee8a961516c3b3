/**
 * A stochastic LIF network trained by likelihood-ratio gradients on the full MNIST.
 *
 *     npm run build && node dist/examples/mnist-lr.js [--hidden 500] [--copies 8] [--epochs 5] [--json out.json]
 *
 * 784-H-10: a hidden layer of LIF neurons with logistic escape noise (LR, spike score,
 * leave-one-out baseline) and a leaky readout trained by its exact local gradient.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend.js';
import { loadMnist } from '../src/data/mnist.js';
import { fit, type Encoding } from '../src/learning/fit.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio } from '../src/learning/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: {
    hidden: { type: 'string', default: '500' },
    copies: { type: 'string', default: '8' },
    epochs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '100' },
    steps: { type: 'string', default: '10' },
    encoding: { type: 'string', default: 'direct' },
    sigma: { type: 'string', default: '0.5' },
    lr: { type: 'string', default: '0.001' },
    seed: { type: 'string', default: '0' },
    'max-steps': { type: 'string' },
    'train-limit': { type: 'string' },
    json: { type: 'string' },
    backend: { type: 'string' },
  },
});
const backend = await initBackend({ backend: a.backend });
const train = await loadMnist('train', a['train-limit'] ? { limit: Number(a['train-limit']) } : {});
const test = await loadMnist('test');
const noise = escapeNoise('logistic', Number(a.sigma));
const net = new Network({
  input: [784],
  layers: [dense({ name: 'hidden', units: Number(a.hidden), neuron: lif({ beta: 0.9, threshold: 1 }) }), readout({ name: 'out', units: 10, beta: 0.9 })],
  seed: Number(a.seed),
});
const estimator = likelihoodRatio({ copies: Number(a.copies), noise, score: 'spike', baseline: 'loo' });
const config = { hidden: Number(a.hidden), copies: Number(a.copies), batch: Number(a.batch), steps: Number(a.steps), encoding: a.encoding, sigma: Number(a.sigma), lr: Number(a.lr), seed: Number(a.seed), estimator: estimator.name, backend: backend.name };
console.log(JSON.stringify({ config }));
let window = 0, count = 0;
const history = await fit(net, estimator, membraneCrossEntropy('mean'), train, test, {
  epochs: Number(a.epochs),
  batchSize: Number(a.batch),
  steps: Number(a.steps),
  encoding: a.encoding as Encoding,
  learningRate: Number(a.lr),
  seed: Number(a.seed),
  ...(a['max-steps'] ? { maxSteps: Number(a['max-steps']) } : {}),
  evalNoise: noise,
  onStep: ({ step, loss, seconds }) => {
    window += loss;
    count++;
    if (step % 100 === 0) {
      console.log(JSON.stringify({ step, loss: Number((window / count).toFixed(4)), seconds: Number(seconds.toFixed(1)) }));
      window = count = 0;
    }
  },
  onEpoch: (r) => console.log(JSON.stringify(r)),
});
if (a.json) writeFileSync(a.json, JSON.stringify({ config, history }, null, 2) + '\n');
net.dispose();
