/**
 * A neuron model written as equations, trained by likelihood ratio and by BPTT with no learner
 * code: an adaptive LIF (a spike-triggered current w that decays with ρ and is subtracted from the
 * membrane), its decay and threshold learned per neuron.
 *
 *     npm run build && node dist/examples/equation-neuron.js [--method lr|bptt] [--epochs N] [--train-limit N]
 *
 * The same neuron from the command line: spikelr train --neuron-equations examples/neurons/adaptive.json
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { imageSequences } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { methodOf } from '../src/learning/estimators/registry.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { train } from '../src/learning/trainer.js';
import { defaultConfig } from '../src/cli/config.js';
import { equationNeuron } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

const { values: a } = parseArgs({
  options: { method: { type: 'string', default: 'lr' }, epochs: { type: 'string', default: '1' }, 'train-limit': { type: 'string' } },
});

const adaptive = equationNeuron({
  name: 'adaptive LIF',
  equations: { u: 'beta * u + I - w', w: 'rho * w' },
  reset: { u: 'I - w', w: 'rho * w + b' }, // zero reset of u, w kicked by b
  spike: { variable: 'u', threshold: 'theta' },
  parameters: { beta: 0.9, rho: 0.9, b: 0.1, theta: 1 },
});

await initBackend();
const config = { ...defaultConfig(a.method as 'lr' | 'bptt'), hidden: [500], steps: 10, encoding: 'direct' as const };
const limit = a['train-limit'] ? { limit: Number(a['train-limit']) } : {};
const seq = { steps: config.steps, encoding: config.encoding };
const net = new Network({
  input: [784],
  layers: [dense({ name: 'hidden', units: 500, neuron: adaptive, learn: ['beta', 'theta'] }), readout({ name: 'out', units: 10, beta: 0.9 })],
  seed: 0,
});
const result = await train(
  net,
  methodOf(config.method).estimator(config),
  membraneCrossEntropy('mean'),
  imageSequences(await loadMnist('train', limit), seq),
  imageSequences(await loadMnist('test'), seq),
  { epochs: Number(a.epochs), batchSize: 100, seed: 0, optimizer: { kind: 'adam', learningRate: 1e-3 }, schedule: 'cosine', progress: true },
);
process.stdout.write(`${config.method}: test accuracy ${(100 * result.testAccuracy!).toFixed(2)}% after ${result.steps} steps\n`);
net.dispose();
