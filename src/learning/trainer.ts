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
import {
  BEST_FILE,
  CHECKPOINT_FILE,
  copyParameters,
  METRICS_LOG,
  MODEL_FILE,
  optimizerValues,
  parameterNames,
  restore,
  SNAPSHOT_DIR,
  snapshotFile,
  type TrainerState,
} from './checkpoints.js';
import { evaluateDataset, outOfMemoryIsClear, testSeed } from './evaluate.js';
import type { EpochRecord, TrainOptions, TrainResult } from './train-options.js';

export { BEST_FILE, CHECKPOINT_FILE, METRICS_LOG, MODEL_FILE, modelFileOf, parameterNames, SNAPSHOT_DIR, snapshotFile } from './checkpoints.js';
export { evaluateDataset, testSeed, type Evaluation } from './evaluate.js';
export type { EpochRecord, StepInfo, TrainOptions, TrainResult } from './train-options.js';
import { existsSync, promises as fs } from 'node:fs';
import { makeDirectory } from '../core/platform/node.js';
import path from 'node:path';
import { check, checkInRange, checkInteger, checkOneOf, namingFile } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { deserializeModel, serializeNetwork, writeFileAtomic } from '../io/network-file.js';
import { crc32 } from 'node:zlib';
import type { Network } from '../sim/network.js';
import { permutation, streamKey } from '../core/random.js';
import { armDecorrelation, decorrelates, updateDecorrelation } from './decorrelation.js';
import type { Estimator } from './estimators/lr.js';
import { ACCURACY_KINDS, type RowLoss } from './losses.js';
import { optimizer as makeOptimizer } from './optim.js';
import { schedule as compileSchedule, LEARNING_RATE, NOISE_SCALE, type Schedule, type ScheduleKind } from './schedule.js';
import { progressBar } from './progress.js';
import { withPeakBytes } from './memory.js';
import { checkQuantizable, withQuantizedWeights, withQuantizedWeightsAsync } from '../sim/deploy.js';

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
  // a schedule given by name or formula, or as a function of (step, total)
  const compiled = (given: string | ((s: number, t: number) => number), kind: ScheduleKind): Schedule =>
    typeof given === 'function' ? (s) => given(s, total) : compileSchedule(given, { total, stepsPerEpoch: perEpoch }, kind);
  const rate = compiled(o.schedule ?? 'constant', LEARNING_RATE);
  const sigmaScale = o.sigmaSchedule === undefined ? undefined : compiled(o.sigmaSchedule, NOISE_SCALE);
  const names = parameterNames(net);
  const opt = makeOptimizer(o.optimizer, (v) => names.get(v) ?? v.name, layerRateOf(net, o.layerRates));
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
        const sigma = sigmaScale?.(state.step) ?? 1;
        armDecorrelation(net, input.shape[0]! * input.shape[1]!);
        // a noise-free pass fills the layers' samples first: the estimate's passes then add none
        if (o.decorrelationInputs === 'deterministic' && decorrelating) net.run(input, { constantInput: constantInTime }).dispose();
        const estimateOnce = () =>
          outOfMemoryIsClear(
            () =>
              deployed(() =>
                estimator.estimate(net, { input, labels, constantInTime }, loss, streamKey(o.seed, 0x1a, state.step), {
                  sigmaScale: sigma,
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
        const info = {
          step: state.step,
          epoch: state.epoch,
          loss: est.loss,
          learningRate: o.optimizer.learningRate * factor,
          ...(sigmaScale ? { sigmaScale: sigma } : {}),
          seconds: state.trainSeconds,
        };
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

/** Each variable's learning-rate multiple from per-layer rates by layer name (a name no layer has is an error that lists them). */
export function layerRateOf(net: Network, rates: TrainOptions['layerRates']): (v: tf.Variable) => number {
  if (!rates) return () => 1;
  const byVariable = new Map<tf.Variable, number>();
  for (const [name, rate] of Object.entries(rates)) {
    const layer = net.layers.find((l) => l.name === name);
    check(
      layer !== undefined,
      () => `train: layerRates names '${name}', which is not a layer of this network; its layers: ${net.layers.map((l) => l.name).join(', ')}`,
    );
    check(Number.isFinite(rate) && rate > 0, () => `train: layerRates for '${name}' must be a positive number, got ${rate}`);
    for (const v of Object.values(layer!.params)) byVariable.set(v, rate);
  }
  return (v) => byVariable.get(v) ?? 1;
}
