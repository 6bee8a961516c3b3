/**
 * The defaults of a training config: the keys every method shares and each registered method's
 * recipe over them (a web page builds a method's estimator from its recipe too; the command line's
 * cli/config.ts reads and checks config files over them).
 */
import { ESTIMATORS, METHODS, methodOf, type MethodName } from './estimators/registry.js';
import type { TrainConfig } from './config.js';

/** Defaults shared by every method. */
export const COMMON_DEFAULTS: Omit<TrainConfig, 'method'> = {
  dataset: 'mnist',
  dataDir: null,
  trainLimit: null,
  testLimit: null,
  hidden: [1000],
  conv: null,
  recurrent: false,
  neuron: 'lif',
  neuronEquations: null,
  beta: 0.95,
  threshold: 1,
  reset: 'subtract',
  readoutBeta: 0.95,
  steps: 25,
  encoding: 'rate',
  loss: 'ce-membrane',
  reduction: 'mean',
  accuracy: 'rate',
  regularizer: 'none',
  regularizerWeight: 1,
  rateTarget: 0.1,
  optimizer: 'adam',
  learningRate: 5e-4,
  momentum: 0.9,
  weightDecay: 0,
  schedule: 'constant',
  epochs: 1,
  batchSize: 128,
  validation: 0,
  patience: null,
  maxSteps: null,
  seed: 0,
  checkpointEvery: 100,
  evalEvery: null,
  snapshots: false,
  workers: 0,
  pipeline: 0,
  microBatches: null,
  localLosses: 'auto',
  localCredit: 'unit-all',
  causalCredit: true,
  noiseSchedule: 'auto',
  decorrelate: 'auto',
  decorrelationRate: 1e-3,
  decorrelationKappa: 0.5,
  decorrelationCentre: true,
  decorrelationInputs: 'auto',
  copies: 8,
  noise: 'logistic:0.5',
  layerNoise: null,
  recurrentNoiseScale: 0.2,
  layerCopies: null,
  layerRates: null,
  score: 'spike',
  baseline: 'loo',
  sampling: 'mc',
  timeChunk: null,
  directions: 8,
  tangent: 'exact',
  surrogate: 'atan',
  surrogateScale: 2,
  surrogateFormula: '1 / (1 + (pi * x)^2)',
  truncate: null,
  detachReset: false,
  recurrentHops: null,
  init: null,
  network: null,
  deploy: null,
};

/** Defaults per method: each registered method's recipe (see its file in learning/estimators/). */
export const METHOD_DEFAULTS: Record<MethodName, Partial<TrainConfig>> = Object.fromEntries(METHODS.map((m) => [m, ESTIMATORS[m].defaults])) as Record<
  MethodName,
  Partial<TrainConfig>
>;

/**
 * Keys whose default changed what a run does when they were added, each with the value that gives
 * the behaviour from before it existed. A run directory's config.json names every key of the version
 * that wrote it; one without such a key was written before it, and resumes with this value, so that
 * the run goes on as it began (a config file a user writes takes the current defaults).
 */
export const KEYS_ADDED: Readonly<Partial<TrainConfig>> = {
  causalCredit: false, // session 40: unit credit step by step
  noiseSchedule: 'constant', // session 41: σ annealed in LR conv stacks
};

/** The config `method` starts from; an unregistered name is an error that lists the registered ones. */
export function defaultConfig(method: TrainConfig['method']): TrainConfig {
  return { ...COMMON_DEFAULTS, method, ...methodOf(method).defaults } as TrainConfig;
}
