import type { EscapeNoise } from '../neurons/noise.js';
import type { AccuracyKind } from './losses.js';
import type { OptimizerConfig } from './optim.js';
import type { Progress } from './progress.js';

export interface TrainOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly optimizer: OptimizerConfig;
  /** The named layers' learning rates as multiples of the optimizer's (the others 1). */
  readonly layerRates?: Readonly<Record<string, number>>;
  /** Learning-rate schedule: a name or formula (see schedule.ts), or a function of the step. Default constant. */
  readonly schedule?: string | ((step: number, total: number) => number);
  /**
   * Factor on the estimator's escape-noise σ at each optimizer step (annealing): a named noise
   * schedule ('constant', 'anneal'), a formula in the learning-rate schedule's variables, or a
   * function of (step, total). Default constant.
   */
  readonly sigmaSchedule?: string | ((step: number, total: number) => number);
  /** Fraction of the training set held out for validation (0 = none). */
  readonly validation?: number;
  /** Stop after this many epochs without a better validation accuracy (needs `validation`). */
  readonly patience?: number;
  /** Stop after this many optimizer steps. */
  readonly maxSteps?: number;
  /** How accuracy is read from the output: rate/membrane (default) or first spike. */
  readonly accuracy?: AccuracyKind;
  /** Also evaluate the test set with this noise (the stochastic network LR trains). */
  readonly evalNoise?: EscapeNoise | Readonly<Record<string, EscapeNoise>>;
  /**
   * Where decorrelated layers take the input statistics R and μ learn from: 'estimate' (default) the
   * estimator's own passes (LR: its noisy copies); 'deterministic' one noise-free forward pass of
   * the batch before the estimate (the network `spikelr eval` scores; one forward pass more a step).
   */
  readonly decorrelationInputs?: 'estimate' | 'deterministic';
  /**
   * Quantize the weight matrices to this many bits (per output channel, symmetric; src/sim/deploy.ts)
   * in every forward pass, evaluation included; the updates go to the float weights, which the
   * checkpoint keeps, while model.safetensors (and best, snapshots) hold the quantized ones.
   */
  readonly weightBits?: number | null;
  /**
   * Also evaluate the test set every this many steps (outside the train seconds), logged as
   * `{ type: 'eval', step, seconds, testAccuracy, testLoss }`: the accuracy against training time.
   */
  readonly evalEvery?: number;
  /** Evaluate the test set before the first step (a run that starts from a trained model: where it starts). */
  readonly evaluateStart?: boolean;
  /** Run directory: config, metrics.jsonl, checkpoint.safetensors, model.safetensors. */
  readonly runDir?: string;
  /** Metadata written into model.safetensors (the CLI puts the run's config there, so the file alone can be evaluated). */
  readonly modelMetadata?: Record<string, string>;
  /** Checkpoint every this many optimizer steps (with `runDir`; default 100). */
  readonly checkpointEvery?: number;
  /**
   * Keep the network of every checkpoint (and of the start) in `snapshots/step-NNNNNN.safetensors`
   * of the run directory: what `spikelr raster --over-training` films.
   */
  readonly snapshots?: boolean;
  /** Continue from `runDir`'s checkpoint. */
  readonly resume?: boolean;
  /** Log a step record to metrics.jsonl every this many steps (default: about 200 records a run, at least every 50 steps). */
  readonly logEvery?: number;
  /** Show a progress bar on stderr (a bar on a terminal, plain lines otherwise). */
  readonly progress?: boolean | Progress;
  /** Stops the run after the current step, with a checkpoint (SIGINT in the CLI). */
  readonly signal?: AbortSignal;
  /** Batch size for evaluation. */
  readonly evalBatchSize?: number;
  readonly onStep?: (info: StepInfo) => void;
  readonly onEpoch?: (info: EpochRecord) => void;
}

export interface StepInfo {
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly seconds: number;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly validationAccuracy?: number;
  readonly testAccuracy: number;
  readonly testLoss: number;
  readonly stochasticTestAccuracy?: number;
  /** Seconds spent in optimizer steps so far (evaluation excluded). */
  readonly trainSeconds: number;
  /** Peak bytes of live tensors during this epoch's first step (that this process ran). */
  readonly peakTensorBytes: number;
}

export interface TrainResult {
  readonly history: EpochRecord[];
  /** Test accuracy before the first step (with `evaluateStart`). */
  readonly startTestAccuracy?: number;
  readonly steps: number;
  /** The final model's test accuracy; null when the run was stopped before it finished (or evaluated nothing). */
  readonly testAccuracy: number | null;
  readonly trainSeconds: number;
  readonly samplesPerSecond: number;
  readonly peakTensorBytes: number;
  /** Why the run ended. */
  readonly stopped: 'completed' | 'max-steps' | 'early-stopping' | 'aborted' | 'diverged';
  /** With stopped 'diverged': what happened and what to lower. */
  readonly divergence?: string;
  /** Epoch whose weights the network holds at the end (the best one under early stopping). */
  readonly bestEpoch?: number;
}
