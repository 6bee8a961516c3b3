/**
 * Models trained by likelihood-ratio gradients on the full MNIST, the readout by its exact local
 * gradient, every hidden layer by LR (no backpropagation between layers):
 *
 *     npm run build && node dist/examples/mnist-lr.js --model snn|cnn|rnn [--epochs N] [--json out.json]
 *
 * snn: 784-500-10 LIF network, intensities as input current for 10 steps, logistic escape noise
 *      (σ = 0.5), spike score, leave-one-out baseline, K = 8.
 * All: Adam, learning rate 1e-3 with cosine decay over the run.
 * cnn: conv 8@5x5 (relu) → max pool 2 → flatten → readout, one step; Gaussian noise on the conv
 *      pre-activations (σ = 0.5), noise score.
 * rnn: vanilla RNN of 128 tanh units reading one image row per step (28 steps) → leaky readout;
 *      Gaussian noise on the pre-activations.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { loadMnist } from '../src/data/mnist.js';
import { imageSequences, type Encoding } from '../src/data/dataset.js';
import { train as trainNetwork } from '../src/learning/trainer.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio } from '../src/learning/estimators/lr.js';
import { escapeNoise, type NoiseKind } from '../src/neurons/noise.js';
import { analog, lif } from '../src/neurons/params.js';
import { conv2d, dense, flatten, maxPool2d, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { stepLogger } from './progress.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'snn' },
    hidden: { type: 'string', default: '500' },
    copies: { type: 'string', default: '8' },
    epochs: { type: 'string' },
    batch: { type: 'string', default: '100' },
    sigma: { type: 'string', default: '0.5' },
    lr: { type: 'string', default: '0.001' },
    seed: { type: 'string', default: '0' },
    'max-steps': { type: 'string' },
    'train-limit': { type: 'string' },
    json: { type: 'string' },
    backend: { type: 'string' },
  },
});
const models = {
  snn: { epochs: 10, steps: 10, encoding: 'direct', noise: 'logistic', score: 'spike' },
  cnn: { epochs: 1, steps: 1, encoding: 'direct', noise: 'gaussian', score: 'noise' },
  rnn: { epochs: 1, steps: 28, encoding: 'rows', noise: 'gaussian', score: 'noise' },
} as const;
const model = models[a.model as keyof typeof models];
if (!model) throw new Error(`--model must be one of ${Object.keys(models).join(', ')}, got '${a.model}'`);
const seed = Number(a.seed);

function build(): Network {
  switch (a.model) {
    case 'cnn':
      return new Network({
        input: [28, 28, 1],
        layers: [
          conv2d({ name: 'conv', filters: 8, kernelSize: 5, padding: 'valid', neuron: analog({ activation: 'relu' }) }),
          maxPool2d({ poolSize: 2 }),
          flatten(),
          readout({ name: 'out', units: 10, beta: 0 }),
        ],
        seed,
      });
    case 'rnn':
      return new Network({
        input: [28],
        layers: [recurrent({ name: 'rnn', units: 128, neuron: analog({ activation: 'tanh' }) }), readout({ name: 'out', units: 10, beta: 0.9 })],
        seed,
      });
    default:
      return new Network({
        input: [784],
        layers: [dense({ name: 'hidden', units: Number(a.hidden), neuron: lif({ beta: 0.9, threshold: 1 }) }), readout({ name: 'out', units: 10, beta: 0.9 })],
        seed,
      });
  }
}

const backend = await initBackend({ backend: a.backend });
const train = await loadMnist('train', a['train-limit'] ? { limit: Number(a['train-limit']) } : {});
const test = await loadMnist('test');
const net = build();
const noise = escapeNoise(model.noise as NoiseKind, Number(a.sigma));
const estimator = likelihoodRatio({ copies: Number(a.copies), noise, score: model.score, baseline: 'loo' });
const epochs = Number(a.epochs ?? model.epochs);
const config = {
  model: a.model,
  ...(a.model === 'snn' ? { hidden: Number(a.hidden) } : {}),
  copies: Number(a.copies),
  batch: Number(a.batch),
  steps: model.steps,
  encoding: model.encoding,
  sigma: Number(a.sigma),
  lr: Number(a.lr),
  seed,
  epochs,
  estimator: estimator.name,
  backend: backend.name,
};
console.log(JSON.stringify({ config }));
const sequences = { steps: model.steps, encoding: model.encoding as Encoding, inputShape: net.inputShape };
const { history } = await trainNetwork(net, estimator, membraneCrossEntropy('mean'), imageSequences(train, sequences), imageSequences(test, sequences), {
  epochs,
  batchSize: Number(a.batch),
  optimizer: { kind: 'adam', learningRate: Number(a.lr) },
  schedule: 'cosine',
  seed,
  ...(a['max-steps'] ? { maxSteps: Number(a['max-steps']) } : {}),
  evalNoise: noise,
  onStep: stepLogger(100),
  onEpoch: (r) => console.log(JSON.stringify(r)),
});
if (a.json) writeFileSync(a.json, `${JSON.stringify({ config, history }, null, 2)}\n`);
net.dispose();
