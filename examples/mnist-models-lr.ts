/**
 * Conventional layers trained by the same LR core on the full MNIST: a CNN and a row-by-row RNN,
 * Gaussian noise on every hidden pre-activation, the readout trained by its exact local gradient.
 *
 *     npm run build && node dist/examples/mnist-models-lr.js --model cnn|rnn [--epochs 1] [--json out.json]
 *
 * cnn: conv 8@5x5 (relu) → max pool 2 → flatten → readout, one step per image.
 * rnn: vanilla RNN, 128 tanh units, one image row per step (28 steps) → leaky readout.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend.js';
import { loadMnist } from '../src/data/mnist.js';
import { fit } from '../src/learning/fit.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio } from '../src/learning/lr.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { analog } from '../src/neurons/params.js';
import { conv2d, flatten, maxPool2d, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn' },
    copies: { type: 'string', default: '8' },
    epochs: { type: 'string', default: '1' },
    batch: { type: 'string', default: '100' },
    sigma: { type: 'string', default: '0.5' },
    lr: { type: 'string', default: '0.001' },
    seed: { type: 'string', default: '0' },
    'max-steps': { type: 'string' },
    json: { type: 'string' },
    backend: { type: 'string' },
  },
});
if (a.model !== 'cnn' && a.model !== 'rnn') throw new Error(`--model must be cnn or rnn, got '${a.model}'`);
const backend = await initBackend({ backend: a.backend });
const [train, test] = await Promise.all([loadMnist('train'), loadMnist('test')]);
const net =
  a.model === 'cnn'
    ? new Network({
        input: [28, 28, 1],
        layers: [conv2d({ name: 'conv', filters: 8, kernelSize: 5, padding: 'valid', neuron: analog({ activation: 'relu' }) }), maxPool2d({ poolSize: 2 }), flatten(), readout({ name: 'out', units: 10, beta: 0 })],
        seed: Number(a.seed),
      })
    : new Network({
        input: [28],
        layers: [recurrent({ name: 'rnn', units: 128, neuron: analog({ activation: 'tanh' }) }), readout({ name: 'out', units: 10, beta: 0.9 })],
        seed: Number(a.seed),
      });
const noise = escapeNoise('gaussian', Number(a.sigma));
const estimator = likelihoodRatio({ copies: Number(a.copies), noise, score: 'noise', baseline: 'loo' });
const steps = a.model === 'cnn' ? 1 : 28;
const config = { model: a.model, copies: Number(a.copies), batch: Number(a.batch), sigma: Number(a.sigma), lr: Number(a.lr), seed: Number(a.seed), estimator: estimator.name, backend: backend.name };
console.log(JSON.stringify({ config }));
let window = 0, count = 0;
const history = await fit(net, estimator, membraneCrossEntropy('mean'), train, test, {
  epochs: Number(a.epochs),
  batchSize: Number(a.batch),
  steps,
  encoding: a.model === 'cnn' ? 'direct' : 'rows',
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
