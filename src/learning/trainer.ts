/**
 * The training loop behind `spikelr train`: seeded minibatches, any {@link Estimator}'s gradients
 * applied by an explicit-state optimizer, a learning-rate schedule, a validation split with early
 * stopping, and — with a run directory — metrics as JSON lines, atomic checkpoints every N steps,
 * and a resume that ends bit-for-bit where an uninterrupted run would.
 *
 * Everything random is a pure function of (seed, step): the epoch's order, the encoding of each
 * batch, the estimator's noise. A checkpoint therefore needs only the parameters, the optimizer's
 * state and a few counters.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fs, statSync } from 'node:fs';
import { makeDirectory } from '../core/platform/node.js';
import path from 'node:path';
import { check, checkInRange, checkInteger, checkOneOf, isBackendOutOfMemory, namingFile, outOfMemoryAdvice, SpikelrError } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import type { EscapeNoise } from '../neurons/noise.js';
import { deserializeModel, serializeNetwork, WRITE_TEMPORARY, writeFileAtomic, type NamedValues } from '../io/network-file.js';
import { crc32 } from 'node:zlib';
import { swapBatchTime } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import { permutation, streamKey } from '../core/random.js';
import { armDecorrelation, decorrelates, updateDecorrelation } from './decorrelation.js';
import type { Estimator } from './estimators/lr.js';
import { ACCURACY_KINDS, predict, predictFirstSpike, type AccuracyKind, type RowLoss } from './losses.js';
import { optimizer as makeOptimizer, type Optimizer, type OptimizerConfig } from './optim.js';
import { schedule as compileSchedule, type Schedule } from './schedule.js';
import { progressBar, type Progress } from './progress.js';
import { withPeakBytes } from './memory.js';
import { checkQuantizable, withQuantizedWeights, withQuantizedWeightsAsync } from '../sim/deploy.js';

export interface TrainOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly optimizer: OptimizerConfig;
  /** Learning-rate schedule: a name or formula (see schedule.ts), or a function of the step. Default constant. */
  readonly schedule?: string | ((step: number, total: number) => number);
  /** Factor on the estimator's σ at each step (annealing). */
  readonly sigmaSchedule?: (step: number) => number;
  /** Fraction of the training set held out for validation (0 = none). */
  readonly validation?: number;
  /** Stop after this many epochs without a better validation accuracy (needs `validation`). */
  readonly patience?: number;
  /** Stop after this many optimizer steps. */
  readonly maxSteps?: number;
  /** How accuracy is read from the output: rate/membrane (default) or first spike. */
  readonly accuracy?: AccuracyKind;
  /** Also evaluate the test set with this noise (the stochastic network LR trains). */
  readonly evalNoise?: EscapeNoise;
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

/** Counters a checkpoint stores besides tensors. */
interface TrainerState {
  step: number;
  epoch: number;
  /** Batches of `epoch` done. */
  batch: number;
  lossSum: number;
  trainSeconds: number;
  samples: number;
  peakTensorBytes: number;
  history: EpochRecord[];
  bestAccuracy: number;
  bestEpoch: number;
  sinceBest: number;
  /** Length of metrics.jsonl when the checkpoint was written: a resume cuts what came after. */
  metricsBytes: number;
  /** CRC32 of those bytes: a resume refuses a log changed since (it would continue another history). */
  metricsCrc?: number;
  /** Set in the final checkpoint of a finished run: why it ended (a resume then trains nothing). */
  stopped?: Exclude<TrainResult['stopped'], 'aborted' | 'diverged'>;
  /** The divergence check's memory: the loss of the first step (at the initial weights) and of the last few. */
  startLoss?: number;
  recentLosses?: number[];
  /** Test accuracy and loss before the first step (TrainOptions.evaluateStart). */
  start?: { testAccuracy: number; testLoss: number };
}

/** Steps the divergence check averages the current loss over. */
const DIVERGENCE_WINDOW = 10;
/** How far above the initial loss the recent mean may rise before the run counts as diverged. */
const DIVERGENCE_FACTOR = 10;

/**
 * Why the run has diverged after a step with loss `loss`, or undefined: a loss that is not finite,
 * or a mean over the last {@link DIVERGENCE_WINDOW} steps more than {@link DIVERGENCE_FACTOR} times
 * the loss at the initial weights (a learning rate too high often sends the loss to a finite 1e2–1e4
 * within a few steps, not to NaN; a run that learns stays below where it started).
 */
function divergence(state: TrainerState, loss: number): string | undefined {
  if (!Number.isFinite(loss)) return `the loss became ${loss}`;
  state.startLoss ??= loss;
  const recent = (state.recentLosses ??= []);
  recent.push(loss);
  if (recent.length > DIVERGENCE_WINDOW) recent.shift();
  if (recent.length < DIVERGENCE_WINDOW || !(state.startLoss > 0)) return undefined;
  const now = recent.reduce((a, b) => a + b, 0) / recent.length;
  return now > DIVERGENCE_FACTOR * state.startLoss
    ? `the mean loss of the last ${DIVERGENCE_WINDOW} steps, ${now.toPrecision(3)}, is over ${DIVERGENCE_FACTOR}× the initial ${state.startLoss.toPrecision(3)}`
    : undefined;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const MODEL_FILE = 'model.safetensors';
export const BEST_FILE = 'best.safetensors';

/** The model file of `target`: itself, or a run (or import) directory's model.safetensors. */
export function modelFileOf(target: string): string {
  return existsSync(target) && statSync(target).isDirectory() ? path.join(target, MODEL_FILE) : target;
}
/** The folder of a run's snapshots (TrainOptions.snapshots), one model file per checkpoint's step. */
export const SNAPSHOT_DIR = 'snapshots';
export const snapshotFile = (step: number) => `step-${String(step).padStart(6, '0')}.safetensors`;
export const METRICS_LOG = 'metrics.jsonl';

export interface Evaluation {
  readonly accuracy: number;
  /** Mean loss (when a loss is given). */
  readonly loss: number;
}

/** Accuracy (and mean loss) of the network on a dataset, deterministic or with `noise`. */
export function evaluateDataset(
  net: Network,
  data: Dataset,
  o: { readonly seed: number; readonly loss?: RowLoss; readonly noise?: EscapeNoise; readonly accuracy?: AccuracyKind; readonly batchSize?: number },
): Evaluation {
  const size = o.batchSize ?? 500;
  let correct = 0,
    lossSum = 0;
  for (let start = 0; start < data.count; start += size) {
    const idx = Int32Array.from({ length: Math.min(size, data.count - start) }, (_, i) => start + i);
    const input = data.batch(idx, streamKey(o.seed, 0xe7a1, start));
    const constantInput = data.constantInTime === true;
    const r = net.run(input, o.noise ? { noise: o.noise, seed: streamKey(o.seed, 0xe7a2, start), constantInput } : { constantInput });
    const [pred, loss] = tf.tidy(() => {
      const timeMajor = swapBatchTime(r.output);
      const labels = tf.tensor1d(
        Int32Array.from(idx, (i) => data.labels[i]!),
        'int32',
      );
      return [(o.accuracy === 'first-spike' ? predictFirstSpike : predict)(timeMajor), o.loss ? tf.sum(o.loss(timeMajor, labels)) : tf.scalar(0)];
    });
    const p = pred.dataSync();
    for (let i = 0; i < idx.length; i++) if (p[i] === data.labels[idx[i]!]) correct++;
    lossSum += loss.dataSync()[0]!;
    tf.dispose([input, pred, loss]);
    r.dispose();
  }
  return { accuracy: correct / data.count, loss: lossSum / data.count };
}

/** Seed of the test-set evaluation (its rate coding and noise) of a run seeded `seed`. */
export function testSeed(seed: number): number {
  return streamKey(seed, 0x7e57);
}

/** Learnable variables of the network by stable names `<layer>.<param>`. */
export function parameterNames(net: Network): Map<tf.Variable, string> {
  return new Map(net.layers.flatMap((l) => Object.entries(l.params).map(([p, v]) => [v, `${l.name}.${p}`] as const)));
}

async function optimizerValues(opt: Optimizer): Promise<NamedValues[]> {
  const out: NamedValues[] = [];
  for (const [name, t] of opt.state()) out.push({ name: `optimizer.${name}`, shape: t.shape, values: new Float32Array(await t.data()) });
  return out;
}

/** Trains `net` on `train` with `estimator`; evaluates on `test` after every epoch. */
export async function train(net: Network, estimator: Estimator, loss: RowLoss, trainData: Dataset, test: Dataset, o: TrainOptions): Promise<TrainResult> {
  checkInteger('train', 'epochs', o.epochs, 1);
  checkInteger('train', 'batchSize', o.batchSize, 1);
  checkInRange('train', 'validation', o.validation ?? 0, 0, 0.9);
  if (o.patience !== undefined) checkInteger('train', 'patience', o.patience, 1);
  check(
    o.patience === undefined || (o.validation ?? 0) > 0,
    () => 'train: early stopping (patience) needs a validation split; set validation to a fraction such as 0.1',
  );
  if (o.accuracy !== undefined) checkOneOf('train', 'accuracy', o.accuracy, ACCURACY_KINDS);
  const every = o.checkpointEvery ?? 100;
  checkInteger('train', 'checkpointEvery', every, 1);
  if (o.evalEvery !== undefined) checkInteger('train', 'evalEvery', o.evalEvery, 1);
  check(!o.resume || o.runDir !== undefined, () => 'train: resume needs the run directory to continue');
  check(
    trainData.inputShape.join() === net.inputShape.join(),
    () => `train: the network takes ${net.inputShape.join('x')} inputs per step; the data has ${trainData.inputShape.join('x')}`,
  );

  // the validation split: a seeded permutation, the same on every resume
  const order = permutation(trainData.count, streamKey(o.seed, 0x7a1));
  const held = Math.round(trainData.count * (o.validation ?? 0));
  const validation = held > 0 ? subset(trainData, order.slice(0, held).sort()) : undefined;
  const data = held > 0 ? subset(trainData, order.slice(held).sort()) : trainData;
  const perEpoch = Math.floor(data.count / o.batchSize);
  check(perEpoch > 0, () => `train: batch size ${o.batchSize} is larger than the ${data.count} training samples`);
  const total = Math.min(o.maxSteps ?? Infinity, perEpoch * o.epochs);
  const rate: Schedule =
    typeof o.schedule === 'function'
      ? (s) => (o.schedule as (s: number, t: number) => number)(s, total)
      : compileSchedule(o.schedule ?? 'constant', { total, stepsPerEpoch: perEpoch });
  const names = parameterNames(net);
  const opt = makeOptimizer(o.optimizer, (v) => names.get(v) ?? v.name);
  const runDir = o.runDir;
  const metricsPath = runDir ? path.join(runDir, METRICS_LOG) : undefined;
  const bits = o.weightBits ?? null;
  if (bits !== null) checkQuantizable(net);
  // every forward pass sees the deployed weights; the optimizer updates the float ones
  const deployed = <T>(f: () => T): T => withQuantizedWeights(net, bits, f);
  const evalBatch = o.evalBatchSize ?? 500;
  const testEvaluation = () => deployed(() => evaluateDataset(net, test, { seed: testSeed(o.seed), loss, accuracy: o.accuracy, batchSize: evalBatch }));

  const state: TrainerState = {
    step: 0,
    epoch: 1,
    batch: 0,
    lossSum: 0,
    trainSeconds: 0,
    samples: 0,
    peakTensorBytes: 0,
    history: [],
    bestAccuracy: -1,
    bestEpoch: 0,
    sinceBest: 0,
    metricsBytes: 0,
  };
  if (runDir) await makeDirectory(runDir);
  if (o.resume) await restore(net, opt, runDir!, state);
  else if (metricsPath) await fs.writeFile(metricsPath, '').catch(namingFile(metricsPath));

  const log = async (record: object) => {
    if (metricsPath) await fs.appendFile(metricsPath, `${JSON.stringify(record)}\n`).catch(namingFile(metricsPath));
  };
  const snapshot = async () => {
    if (!runDir || !o.snapshots) return;
    // written before the checkpoint: a crash between the two leaves a snapshot that the resumed run rewrites bit for bit
    await makeDirectory(path.join(runDir, SNAPSHOT_DIR));
    await writeFileAtomic(
      path.join(runDir, SNAPSHOT_DIR, snapshotFile(state.step)),
      await withQuantizedWeightsAsync(net, bits, () => serializeNetwork(net, { metadata: o.modelMetadata ?? {} })),
    );
  };
  if (!o.resume) await snapshot(); // the film's first frame: the initial network
  if (o.evaluateStart && state.step === 0 && state.start === undefined) {
    const e = testEvaluation();
    state.start = { testAccuracy: e.accuracy, testLoss: e.loss };
    await log({ type: 'start', step: 0, ...state.start });
  }
  const checkpoint = async () => {
    if (!runDir) return;
    await snapshot();
    const logged = metricsPath && existsSync(metricsPath) ? await fs.readFile(metricsPath) : undefined;
    state.metricsBytes = logged?.length ?? 0;
    state.metricsCrc = logged ? crc32(logged) : 0;
    const bytes = await serializeNetwork(net, {
      tensors: await optimizerValues(opt),
      metadata: { trainer: JSON.stringify(state), optimizerSteps: String(opt.steps) },
    });
    await writeFileAtomic(path.join(runDir, CHECKPOINT_FILE), bytes);
  };
  const bar = o.progress === true ? progressBar({ total, start: state.step }) : o.progress || undefined;
  const decorrelating = decorrelates(net);
  const constantInTime = data.constantInTime === true;
  // about 200 step records a run (at least every 50 steps), so short runs still have a loss curve
  const logEvery = o.logEvery ?? Math.max(1, Math.min(50, Math.ceil(total / 200)));
  // a finished run (its final checkpoint says why it ended) resumes to the same end, training nothing
  let stopped: TrainResult['stopped'] = state.stopped ?? 'completed';
  let diverged: string | undefined;
  let bestInMemory: Uint8Array | undefined;

  try {
    run: for (; state.stopped === undefined && state.epoch <= o.epochs; state.epoch++, state.batch = 0, state.lossSum = 0) {
      const epochOrder = permutation(data.count, streamKey(o.seed, 0x5af, state.epoch));
      let measured = false;
      for (; state.batch < perEpoch; state.batch++) {
        if (state.step >= total) break;
        const idx = epochOrder.subarray(state.batch * o.batchSize, (state.batch + 1) * o.batchSize);
        const started = performance.now();
        const input = data.batch(idx, streamKey(o.seed, 0xe1c, state.step));
        const labels = tf.tensor1d(
          Int32Array.from(idx, (i) => data.labels[i]!),
          'int32',
        );
        const factor = rate(state.step);
        armDecorrelation(net, input.shape[0]! * input.shape[1]!);
        // a noise-free pass fills the layers' samples first: the estimate's passes then add none
        if (o.decorrelationInputs === 'deterministic' && decorrelating) net.run(input, { constantInput: constantInTime }).dispose();
        const estimateOnce = () =>
          outOfMemoryIsClear(
            () =>
              deployed(() =>
                estimator.estimate(net, { input, labels, constantInTime }, loss, streamKey(o.seed, 0x1a, state.step), {
                  sigmaScale: o.sigmaSchedule?.(state.step) ?? 1,
                }),
              ),
            o.batchSize,
          );
        let est: ReturnType<typeof estimateOnce>;
        if (!measured) {
          // the peak of live tensors inside the epoch's first step (the estimator's working memory included)
          const { result, peakBytes } = withPeakBytes(estimateOnce);
          est = result;
          state.peakTensorBytes = Math.max(state.peakTensorBytes, peakBytes);
          measured = true;
        } else {
          est = estimateOnce();
        }
        // a diverged step is not applied: the run stops with its last good checkpoint as it was
        const why = divergence(state, est.loss);
        if (why) {
          est.dispose();
          tf.dispose([input, labels]);
          stopped = 'diverged';
          diverged = `training diverged at step ${state.step + 1}: ${why}. The last checkpoint (written every ${every} steps) is kept and no model was written; lower the learning rate (now ${o.optimizer.learningRate})`;
          break run;
        }
        opt.apply(est.gradients, factor);
        net.constrain();
        updateDecorrelation(net); // R learns from the inputs its layer saw in this step
        est.dispose();
        tf.dispose([input, labels]);
        state.trainSeconds += (performance.now() - started) / 1000;
        state.lossSum += est.loss;
        state.samples += idx.length;
        state.step++;
        const info = { step: state.step, epoch: state.epoch, loss: est.loss, learningRate: o.optimizer.learningRate * factor, seconds: state.trainSeconds };
        if (state.step % logEvery === 0) await log({ type: 'step', ...info });
        o.onStep?.(info);
        bar?.update(state.step, { epoch: state.epoch, loss: est.loss });
        if (o.evalEvery !== undefined && state.step % o.evalEvery === 0) {
          const e = testEvaluation();
          await log({ type: 'eval', step: state.step, epoch: state.epoch, seconds: state.trainSeconds, testAccuracy: e.accuracy, testLoss: e.loss });
        }
        const aborted = o.signal?.aborted === true;
        if (state.step % every === 0 || aborted) {
          state.batch++; // the checkpoint resumes after this batch
          await checkpoint();
          state.batch--;
        }
        if (aborted) {
          stopped = 'aborted';
          break run;
        }
        if (state.step % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      const batches = Math.max(1, state.batch);
      const epochPeak = state.peakTensorBytes;
      const testEval = testEvaluation();
      const record: EpochRecord = {
        epoch: state.epoch,
        steps: state.step,
        trainLoss: state.lossSum / batches,
        ...(validation
          ? {
              validationAccuracy: deployed(() =>
                evaluateDataset(net, validation, { seed: streamKey(o.seed, 0x7a11), accuracy: o.accuracy, batchSize: evalBatch }),
              ).accuracy,
            }
          : {}),
        testAccuracy: testEval.accuracy,
        testLoss: testEval.loss,
        ...(o.evalNoise
          ? {
              stochasticTestAccuracy: deployed(() =>
                evaluateDataset(net, test, { seed: streamKey(o.seed, 0x7e58), noise: o.evalNoise, accuracy: o.accuracy, batchSize: evalBatch }),
              ).accuracy,
            }
          : {}),
        trainSeconds: state.trainSeconds,
        peakTensorBytes: epochPeak,
      };
      state.history.push(record);
      await log({ type: 'epoch', ...record });
      o.onEpoch?.(record);
      bar?.note(
        `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)}, ${validation ? `validation ${(record.validationAccuracy! * 100).toFixed(2)}%, ` : ''}test ${(record.testAccuracy * 100).toFixed(2)}%`,
      );
      if (validation) {
        if (record.validationAccuracy! > state.bestAccuracy) {
          state.bestAccuracy = record.validationAccuracy!;
          state.bestEpoch = state.epoch;
          state.sinceBest = 0;
          const bytes = await withQuantizedWeightsAsync(net, bits, () => serializeNetwork(net));
          if (runDir) await writeFileAtomic(path.join(runDir, BEST_FILE), bytes);
          else bestInMemory = bytes;
        } else state.sinceBest++;
      }
      if (state.step >= total && total < perEpoch * o.epochs) {
        stopped = 'max-steps';
        state.epoch++;
        state.batch = 0;
        break;
      }
      if (o.patience !== undefined && state.sinceBest >= o.patience) {
        stopped = 'early-stopping';
        state.epoch++;
        state.batch = 0;
        break;
      }
    }
    if (stopped !== 'aborted' && stopped !== 'diverged') {
      state.stopped = stopped;
      await checkpoint();
    }
  } finally {
    bar?.done();
  }

  // under a validation split the network ends with the weights of its best epoch
  const finished = stopped !== 'aborted' && stopped !== 'diverged';
  let testAccuracy: number | null = finished ? (state.history.at(-1)?.testAccuracy ?? null) : null;
  if (finished && validation && state.bestEpoch > 0 && state.bestEpoch !== state.history.at(-1)?.epoch) {
    const bytes = runDir ? await fs.readFile(path.join(runDir, BEST_FILE)) : bestInMemory!;
    copyParameters(deserializeModel(bytes, 'best model').net, net);
    testAccuracy = testEvaluation().accuracy;
  } else if (validation) testAccuracy = state.history.find((h) => h.epoch === state.bestEpoch)?.testAccuracy ?? testAccuracy;
  if (runDir && finished)
    await writeFileAtomic(
      path.join(runDir, MODEL_FILE),
      await withQuantizedWeightsAsync(net, bits, () => serializeNetwork(net, { metadata: o.modelMetadata ?? {} })),
    );
  opt.dispose();
  return {
    history: state.history,
    steps: state.step,
    testAccuracy,
    trainSeconds: state.trainSeconds,
    samplesPerSecond: state.samples / Math.max(state.trainSeconds, 1e-9),
    peakTensorBytes: state.peakTensorBytes,
    stopped,
    ...(diverged ? { divergence: diverged } : {}),
    ...(validation && state.bestEpoch > 0 ? { bestEpoch: state.bestEpoch } : {}),
    ...(state.start ? { startTestAccuracy: state.start.testAccuracy } : {}),
  };
}

/**
 * Runs `f`; a backend that runs out of memory (the wasm heap stops at 4 GiB and reports it as a
 * raw RuntimeError) becomes an error that says what happened and what to lower.
 */
function outOfMemoryIsClear<T>(f: () => T, batchSize: number): T {
  try {
    return f();
  } catch (err) {
    if (isBackendOutOfMemory(err)) {
      throw new SpikelrError(
        `train: a step of batch ${batchSize} failed in the tensor backend, ${outOfMemoryAdvice(err, { batch: 'batchSize', copies: 'copies', steps: 'steps', timeChunk: "timeChunk 'auto'" })}`,
      );
    }
    throw err;
  }
}

/** Copies every parameter of `from` into the same-named parameter of `to`, then disposes `from`. */
function copyParameters(from: Network, to: Network): void {
  to.layers.forEach((layer, i) => {
    for (const [p, v] of Object.entries(layer.params)) v.assign(from.layers[i]!.params[p]!);
  });
  from.dispose();
}

/** Loads the run directory's checkpoint into the network, the optimizer and the counters. */
async function restore(net: Network, opt: Optimizer, runDir: string, state: TrainerState): Promise<void> {
  const file = path.join(runDir, CHECKPOINT_FILE);
  if (!existsSync(file)) throw new SpikelrError(`resume: no checkpoint in ${runDir} (expected ${file}; a run writes one every checkpointEvery steps)`);
  const saved = deserializeModel(await fs.readFile(file), file);
  check(
    saved.net.layers.length === net.layers.length && saved.net.layers.every((l, i) => l.name === net.layers[i]!.name),
    () => `resume: ${file} holds a different network (layers ${saved.net.layers.map((l) => l.name).join(', ')}); resume with the run's own config`,
  );
  copyParameters(saved.net, net);
  let counters: TrainerState;
  try {
    counters = JSON.parse(saved.metadata['trainer'] ?? '') as TrainerState;
  } catch {
    throw new SpikelrError(`resume: ${file} has no trainer state; it is a model file, not a checkpoint`);
  }
  Object.assign(state, counters);
  const slots = new Map<string, tf.Tensor>();
  for (const [name, { shape, values }] of saved.extra) if (name.startsWith('optimizer.')) slots.set(name.slice('optimizer.'.length), tf.tensor(values, shape));
  opt.restore(slots, Number(saved.metadata['optimizerSteps'] ?? state.step));
  tf.dispose([...slots.values()]);
  // metrics written after the checkpoint belong to the lost steps: the resumed run writes them again
  const metrics = path.join(runDir, METRICS_LOG);
  const logged = existsSync(metrics) ? await fs.readFile(metrics) : new Uint8Array(0);
  check(
    logged.length >= state.metricsBytes,
    () =>
      `resume: ${metrics} has ${logged.length} bytes, but held ${state.metricsBytes} when ${file} was written: the log was cut since; restore it, or start the run again with --force`,
  );
  check(
    state.metricsCrc === undefined || crc32(logged.subarray(0, state.metricsBytes)) === state.metricsCrc,
    () =>
      `resume: ${metrics} was changed since ${file} was written (its first ${state.metricsBytes} bytes do not match the checkpoint's checksum); restore it, or start the run again with --force`,
  );
  await fs.truncate(metrics, state.metricsBytes).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  // temporaries of atomic writes cut short by a crash
  for (const f of await fs.readdir(runDir)) if (WRITE_TEMPORARY.test(f)) await fs.rm(path.join(runDir, f), { force: true });
  const snapshots = path.join(runDir, SNAPSHOT_DIR);
  if (existsSync(snapshots)) for (const f of await fs.readdir(snapshots)) if (WRITE_TEMPORARY.test(f)) await fs.rm(path.join(snapshots, f), { force: true });
}
