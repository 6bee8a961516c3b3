/**
 * Command-line flags for every {@link TrainConfig} key, `--learning-rate` for `learningRate`: each
 * parsed to the key's type, then validated with the config file's rules. Flags the user did not
 * give stay unset, so a config file's values are not overridden by defaults.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDeployment } from '../sim/deploy.js';
import { number } from './parse.js';
import { COMMON_DEFAULTS, defaultConfig, kebab, METHODS, RULES, type TrainConfig } from './config.js';

const HELP: Partial<Record<keyof TrainConfig, string>> = {
  dataset: 'dataset',
  dataDir: 'folder of the dataset files (idx, nmnist, shd)',
  trainLimit: 'use only the first N training samples',
  testLimit: 'use only the first N test samples',
  method: 'gradient estimator',
  hidden: "hidden layer sizes, comma-separated ('none' after conv layers)",
  conv: 'convolutional layers before the hidden ones: e.g. 8c5-p2-16c3-p2 (8 filters 5x5, 2x2 max pooling, …) or none',
  recurrent: 'recurrent hidden layers',
  neuron: 'hidden neuron model',
  neuronEquations: 'JSON file of hidden neurons written as equations (overrides --neuron, --beta, --threshold, --reset)',
  beta: 'membrane decay per step',
  threshold: 'firing threshold',
  reset: 'reset after a spike',
  readoutBeta: 'decay of the output layer',
  steps: 'time steps per sample',
  encoding: 'how images become input',
  loss: "loss: ce-membrane, mse-membrane, ce-count, mse-count, or zero-one (the 0-1 loss itself, which only LR and fg's finite-difference tangent can train)",
  reduction: 'time reduction of membrane losses',
  accuracy: 'how the predicted class is read',
  regularizer: 'firing-rate regulariser on the hidden layers',
  regularizerWeight: "the regulariser's weight",
  rateTarget: "the 'rate' regulariser's target rate per step",
  optimizer: 'optimizer',
  learningRate: 'learning rate',
  momentum: 'SGD momentum',
  weightDecay: 'L2 weight decay',
  schedule: "learning-rate schedule: constant, cosine, linear, or a formula in step, total, progress, epoch, e.g. '0.1^floor(epoch/2)'",
  epochs: 'epochs',
  batchSize: 'samples per optimizer step',
  validation: 'fraction of the training set held out for validation',
  patience: 'early stopping: epochs without a better validation accuracy',
  maxSteps: 'stop after N optimizer steps',
  seed: 'seed of weights, data order, encodings and noise',
  snapshots: 'keep the network of every checkpoint in snapshots/ (for spikelr raster --over-training)',
  checkpointEvery: 'write a checkpoint every N steps',
  evalEvery: 'also evaluate the test set every N steps (time to an accuracy: metrics.jsonl eval lines)',
  workers:
    'worker threads besides the main one, each estimating a shard of every batch (1 uses two cores; the noise then differs from a run with another count)',
  pipeline: 'layer-parallel LR: the layers in N stages on N threads (2 uses two cores; 0 off)',
  microBatches: 'micro-batches per batch in the pipeline, so that its stages work at once (default four per stage)',
  localLosses:
    "local losses: each (a head on every hidden layer but the last, each layer's block trained on its own loss), auto (each for lr and fg-activity on two or more hidden layers), none, or the layers that end a block, e.g. 2,4 (1-based among conv and hidden layers)",
  localCredit:
    "LR and fg-activity: how a layer read by a local head or by the readout's mean takes its loss: unit (each unit by its own share of the loss, far less variance; LR: linearised; a recurrent layer, whose units drive each other, by its block's loss), unit-all (unit in recurrent layers too: LR approximated as e-prop does, dropping the paths through the other units) or loss (every unit by the block's loss: exact LR, Ren et al.'s activity estimate)",
  causalCredit:
    "LR: unit credit step by step, each spike's score weighted by its unit's output from that step on (true: the same expectation with less variance) or over the whole run (false)",
  noiseSchedule:
    "LR: a factor on the escape noise's σ at each step: constant, anneal (to a fifth by 70% of the run, so the noise-free network evaluated is the one trained), a formula like the learning-rate schedule's, or auto (anneal for conv layers, else constant)",
  decorrelate:
    'layers whose input is decorrelated (z = R(x − μ), Dalm et al. 2024): auto (hidden for lr and fg-activity on dense layers in blocks or recurrent layers, else none), none, readout, hidden, deep (hidden layers after the first: the data and the readout input stay as they are) or all',
  decorrelationRate: "decorrelation: R's learning rate",
  decorrelationKappa: 'decorrelation: weight κ of unit variance against decorrelation',
  decorrelationCentre: 'decorrelation: subtract a running mean of the input (true or false)',
  decorrelationInputs:
    "decorrelation: the pass R learns from, the estimator's own (estimate; LR's noisy copies) or a noise-free one (deterministic); auto: deterministic for an LR conv stack, estimate otherwise",
  directions: 'FG: random directions per estimate',
  tangent: "FG: 'exact' (forward mode) or 'finite-difference'",
  copies: 'LR: noise copies per sample',
  noise: 'LR: escape noise KIND:SIGMA',
  layerNoise: "LR: the named layers' own escape noise, NAME=KIND:SIGMA,… (e.g. hidden2=logistic:0.3), or none",
  recurrentNoiseScale:
    "LR: a recurrent layer's σ as a multiple of --noise's (a flipped spike returns through V at every later step; 0.2 measured best on row-by-row MNIST)",
  layerCopies: 'LR: layer-wise injection (one pass per noisy layer, noise in it alone), each named layer with its own copies, NAME=K,…; or none (one pass)',
  layerRates: "the named layers' learning rates as multiples of --learning-rate, NAME=X,… (e.g. hidden1=0.5), or none",
  score: 'LR: score function',
  baseline: 'LR: baseline',
  sampling: 'LR: noise sampling',
  timeChunk:
    "LR: run in time chunks of N steps, storing only each chunk's start and rerunning them for the gradient (memory in T/N + N steps for one more forward pass); 'auto' for the square root of the steps, 'none' for one pass",
  init: 'start from the parameters of this trained model (a .safetensors file or a run directory; same network)',
  network: 'train the network of this model file or run directory (e.g. one spikelr import made) instead of building one from --hidden/--conv',
  deploy:
    'deployment transforms in every forward pass: comma-separated weights=BITS (per-channel, 2-8), state=BITS.FRACTION (fixed-point neuron state), rounding=nearest|floor|zero, decay=BITS (fixed-point decay), mismatch=SD (relative, per-neuron threshold), decay-mismatch=SD, mismatch-seed=N; or none',
  surrogate: 'BPTT: surrogate derivative',
  surrogateFormula: "BPTT: S'(x) for --surrogate formula, in x = u - threshold (mathjs syntax)",
  surrogateScale: "BPTT: the surrogate's sharpness (atan alpha, sigmoid slope, triangular width)",
  truncate: 'BPTT: truncate the backward pass every N steps',
  detachReset: "BPTT: no gradient through the reset's spike (true: as snnTorch's neurons)",
  recurrentHops:
    "BPTT: how many times a gradient may pass through a recurrent layer's weights from one unit into another (0: each unit's own path only, the credit LR's unit-all and e-prop take; all: exact BPTT)",
};

const INTEGER_KEYS = new Set([
  'trainLimit',
  'testLimit',
  'patience',
  'maxSteps',
  'truncate',
  'steps',
  'epochs',
  'batchSize',
  'seed',
  'checkpointEvery',
  'evalEvery',
  'workers',
  'pipeline',
  'microBatches',
  'copies',
  'directions',
]);

/**
 * What a flag's parser returns for a null value ('none', 'all'): commander stores '' where a parser
 * returns null, so {@link configFlags} turns this marker into null instead.
 */
const UNSET = Symbol('null');

function parserFor(key: keyof TrainConfig): (value: string) => unknown {
  const sample = COMMON_DEFAULTS[key as Exclude<keyof TrainConfig, 'method'>];
  if (key === 'conv' || key === 'init' || key === 'network') return (v) => (v === 'none' ? UNSET : v);
  if (key === 'localLosses') {
    return (v) => {
      if (!/^\d+(,\d+)*$/.test(v.trim())) return v;
      return v.split(',').map((x) => Number(x));
    };
  }
  if (key === 'recurrentHops') {
    return (v) => {
      if (v === 'all') return UNSET;
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a number of hops >= 0, or 'all', got '${v}'`);
      return n;
    };
  }
  if (key === 'timeChunk') {
    return (v) => {
      if (v === 'none') return UNSET;
      if (v === 'auto') return v;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a number of steps >= 1, 'auto' or 'none', got '${v}'`);
      return n;
    };
  }
  if (key === 'layerNoise' || key === 'layerCopies' || key === 'layerRates') {
    return (v) => {
      if (v.trim() === 'none') return UNSET;
      const map: Record<string, string | number> = {};
      for (const item of v.split(',')) {
        const [name, value, ...rest] = item.split('=').map((x) => x.trim());
        if (!name || !value || rest.length)
          throw new InvalidArgumentError(
            `expected NAME=VALUE pairs separated by commas, e.g. hidden2=${key === 'layerNoise' ? 'logistic:0.3' : '2'}; got '${item}'`,
          );
        map[name] = key === 'layerNoise' ? value : Number(value);
      }
      return map;
    };
  }
  if (key === 'deploy') {
    return (v) => {
      try {
        return parseDeployment(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message.replace(/^--deploy: /, ''));
      }
    };
  }
  if (key === 'hidden') {
    return (v) => {
      if (v.trim() === 'none') return [];
      const sizes = v.split(',').map((x) => Number(x.trim()));
      if (!sizes.every((n) => Number.isInteger(n) && n > 0))
        throw new InvalidArgumentError(`expected positive integers separated by commas, e.g. 1000 or 512,256; got '${v}'`);
      return sizes;
    };
  }
  if (typeof sample === 'boolean') {
    return (v) => {
      if (v !== 'true' && v !== 'false') throw new InvalidArgumentError(`expected true or false, got '${v}'`);
      return v === 'true';
    };
  }
  if (INTEGER_KEYS.has(key) || typeof sample === 'number') {
    return (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${v}'`);
      return n;
    };
  }
  return (v) => v;
}

/** "default X", or "default X for lr, Y for bptt, …" where the registered methods' recipes differ. */
function defaultText(key: keyof TrainConfig): string {
  if (key === 'method') return `one of ${METHODS.join(', ')}; default lr; 'spikelr compare' runs several`;
  const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : key === 'recurrentHops' && v === null ? 'all' : String(v));
  const values = METHODS.map((m) => show(defaultConfig(m)[key]));
  return values.every((v) => v === values[0]) ? `default ${values[0]}` : `default ${METHODS.map((m, i) => `${values[i]} for ${m}`).join(', ')}`;
}

/** Adds a flag for every config key to `command`. */
export function addConfigFlags(command: Command, keys: readonly (keyof TrainConfig)[] = Object.keys(RULES) as (keyof TrainConfig)[]): Command {
  for (const key of keys) {
    const name = kebab(key);
    if (key === 'recurrent') {
      command.addOption(new Option(`--${name}`, HELP[key] ?? key));
      continue;
    }
    command.addOption(new Option(`--${name} <value>`, `${HELP[key] ?? key} (${defaultText(key)})`).argParser(parserFor(key)));
  }
  return command;
}

/** The config keys the user set on the command line. */
export function configFlags(opts: Record<string, unknown>): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(RULES)) if (opts[key] !== undefined) out[key] = opts[key] === UNSET ? null : opts[key];
  return out as Partial<TrainConfig>;
}

/** A commander parser of a positive number. */
export function positiveNumber(value: string): number {
  const x = number(value);
  if (!(x > 0)) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return x;
}

/** A commander parser of a comma-separated list of numbers in [min, max]. */
export const numberList =
  (min: number, max: number) =>
  (value: string): number[] => {
    const list = value.split(',').map((x) => Number(x.trim()));
    if (list.length === 0 || !list.every((x) => Number.isFinite(x) && x >= min && x <= max))
      throw new InvalidArgumentError(`expected numbers in [${min}, ${max}] separated by commas, got '${value}'`);
    return list;
  };
