/**
 * Layer-parallel LR (issue 14): the network's layers in S stages on S threads, which only a
 * forward-only learner can do. LR's gradient of a layer needs the layer's own input, its own
 * trace and one number per row — the row's loss weight — so no stage waits for another's backward
 * pass: activations flow forward stage to stage (spikes as bits, in shared memory), each row's
 * weight flows back from the last stage, and every stage forms its layers' gradients as soon as
 * the weights of a micro-batch arrive. Each batch is cut into M micro-batches so that the stages
 * work at once: while stage 1 runs micro-batch m, stage 0 runs m + 1 (GPipe's schedule, with no
 * backward pass to wait for).
 *
 * The calling thread runs stage 0 with the network it is given; each later stage runs on a
 * worker thread with a replica built by the same recipe as {@link shardedEstimator}'s. The
 * parameters and the optimizer stay with the caller, as with batch shards, so the training loop,
 * checkpoints and resume are unchanged: per step each worker receives its stage's parameters (a
 * few MB at most) and returns its stage's gradients.
 *
 * Micro-batch m draws its noise from the stream streamKey(seed, m), every layer keyed by its place
 * in the network, and the result is Σ_m (B_m/B)·ĝ_m with ĝ_m the single-thread estimate of
 * micro-batch m with that seed: reproducible from the seed for a given number of micro-batches,
 * whatever the split into stages.
 */
import * as tf from '@tensorflow/tfjs';
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { check, checkInteger, SpikelrError } from '../core/errors.js';
import { modelOf } from '../neurons/registry.js';
import type { Network } from '../sim/network.js';
import { validate, type LRConfig, type Resolved } from './estimators/lr.js';
import type { Batch, EstimateOptions, Estimator, GradientEstimate } from './estimators/types.js';
import type { CopyForward } from './forward.js';
import type { RowLoss } from './losses.js';
import { addNamed, startWorker, variablesByName, type ShardRecipe } from './parallel.js';
import { packActivation, Stage, type RowWeights, type StageResult, type StageTask } from './pipeline-stage.js';
import { regularizersOf } from './regularizers.js';
import { parameterNames } from './trainer.js';
import { threadTimeoutSeconds, waitWhile } from '../core/bounded-wait.js';

export interface PipelineOptions {
  /** Stages, each on its own thread (the calling thread runs the first); default 2. */
  readonly stages?: number;
  /** Micro-batches each batch is cut into; default four per stage (or one per sample of a smaller batch). */
  readonly microBatches?: number;
  /**
   * Index of the first layer of every stage after the first (ascending). Default: the split that
   * balances the stages' estimated work ({@link balancedSplit}).
   */
  readonly split?: readonly number[];
  /** The workers' backend (default the calling thread's, or `wasm`). */
  readonly backend?: string;
}

/** Where a pipelined estimate's time went, per stage. */
export interface PipelineTiming {
  /** Milliseconds each stage worked (stage 0: the estimate's wall time less its waits). */
  readonly busyMs: readonly number[];
  /** The estimate's wall time. */
  readonly wallMs: number;
}

export interface PipelinedEstimator extends Estimator {
  /** The layers `[from, to)` of each stage, once the first estimate has chosen them. */
  readonly stageLayers: () => readonly (readonly [number, number])[] | undefined;
  /** How busy each stage was in the last estimate: a stage near `wallMs` is the one to lighten (`split`). */
  readonly lastTiming: () => PipelineTiming | undefined;
  readonly microBatches: number;
  close(): Promise<void>;
}

/**
 * The work of each layer under LR, in multiply–adds per sample (relative): its weight product
 * forward and its VJP (2 × weights × rows, rows = T·K once the copies begin, one step of rows for
 * a time-constant first layer) plus its neurons' forward step and reverse filter (~30 elementwise
 * operations per neuron-step of every copy).
 */
export function layerWork(net: Network, steps: number, copies: number, constantInput: boolean): number[] {
  let copiesBegun = false;
  let first = true;
  return net.layers.map((layer) => {
    const weights = Object.entries(layer.params)
      .filter(([name]) => !(layer.buffers ?? []).includes(name))
      .reduce((s, [, v]) => s + v.size, 0);
    const neurons = layer.outputShape.reduce((a, b) => a * b, 1);
    const noisy = layer.neuron !== undefined && modelOf(layer.neuron).role !== 'readout';
    const rowsIn = (constantInput && first ? 1 : steps) * (copiesBegun ? copies : 1);
    if (layer.neuron) first = false;
    if (noisy) copiesBegun = true;
    const rowsOut = steps * (copiesBegun ? copies : 1);
    return 2 * weights * rowsIn + (layer.neuron ? 30 * neurons * rowsOut : neurons * rowsOut);
  });
}

/** The split of `work` into `stages` contiguous non-empty ranges whose largest sum is smallest. */
export function balancedSplit(work: readonly number[], stages: number): number[] {
  const n = work.length;
  check(stages <= n, () => `pipeline: ${stages} stages need at least ${stages} layers; the network has ${n}`);
  const prefix = [0];
  for (const w of work) prefix.push(prefix.at(-1)! + w);
  // best[s][i]: the smallest largest-stage work of the first i layers in s stages, and where the last began
  const best = Array.from({ length: stages + 1 }, () => new Array<number>(n + 1).fill(Infinity));
  const from = Array.from({ length: stages + 1 }, () => new Array<number>(n + 1).fill(0));
  best[0]![0] = 0;
  for (let s = 1; s <= stages; s++) {
    for (let i = s; i <= n; i++) {
      for (let j = s - 1; j < i; j++) {
        const cost = Math.max(best[s - 1]![j]!, prefix[i]! - prefix[j]!);
        if (cost < best[s]![i]!) {
          best[s]![i] = cost;
          from[s]![i] = j;
        }
      }
    }
  }
  const starts: number[] = [];
  for (let s = stages, i = n; s > 1; s--) {
    i = from[s]![i]!;
    starts.unshift(i);
  }
  return starts;
}

/** Checks that LR with `c` on `net` can run as a pipeline: every row's weight must be known to the last stage alone. */
function checkPipelinable(net: Network, c: Resolved): void {
  check(
    c.baseline !== 'noise-free',
    () => "pipeline: the noise-free baseline needs a noise-free pass through every stage; use baseline 'loo' (the default with two or more copies)",
  );
  check(!c.layerwise, () => 'pipeline: layer-wise injection runs one pass per noisy layer; train it without --pipeline');
  const mixing = net.layers.find((l) => l.mixesRows);
  check(
    !mixing,
    () => `pipeline: layer '${mixing!.name}' mixes the rows of a sample (a graph layer), whose copies share one weight; train it without --pipeline`,
  );
  check(c.plan.copies >= 2, () => 'pipeline: LR needs at least two copies per sample for its baseline; raise copies');
}

interface Thread {
  readonly worker: Worker;
  readonly control: MessagePort;
}

/** Starts the worker threads of stages 1 … S−1, wired stage to stage, ready to estimate. */
export async function pipelinedLR(config: LRConfig, net: Network, recipe: ShardRecipe, o: PipelineOptions = {}): Promise<PipelinedEstimator> {
  const c = validate(config);
  const stages = o.stages ?? 2;
  checkInteger('pipeline', 'stages', stages, 2);
  check(stages <= net.layers.length, () => `pipeline: ${stages} stages need at least ${stages} layers; the network has ${net.layers.length}`);
  const microBatches = o.microBatches ?? 4 * stages;
  checkInteger('pipeline', 'microBatches', microBatches, 1);
  const fixedMicroBatches = o.microBatches !== undefined;
  if (o.split) {
    check(
      o.split.length === stages - 1 && o.split.every((s, i) => Number.isInteger(s) && s > (o.split![i - 1] ?? 0) && s < net.layers.length),
      () =>
        `pipeline: split must give the first layer of each of the ${stages - 1} later stages, ascending, between 1 and ${net.layers.length - 1}; got [${o.split!.join(', ')}]`,
    );
  }
  checkPipelinable(net, c);
  const backend = o.backend ?? tf.getBackend() ?? 'wasm';
  const signal = new Int32Array(new SharedArrayBuffer(4));

  // activations: stage s−1 → s; row weights: last stage → each earlier one
  const activations = Array.from({ length: stages }, (_, s) => (s === 0 ? undefined : new MessageChannel()));
  const weights = Array.from({ length: stages - 1 }, () => new MessageChannel());
  const toStage1 = activations[1]!.port1;
  const weightsIn0 = weights[0]!.port2;
  const threads: Thread[] = [];
  try {
    for (let s = 1; s < stages; s++) {
      const { port1: control, port2: controlThere } = new MessageChannel();
      const last = s === stages - 1;
      const own = last ? { weightsOut: weights.map((w) => w.port1) } : { next: activations[s + 1]!.port1, weightsIn: weights[s]!.port2 };
      const ports = { control: controlThere, previous: activations[s]!.port2, ...own };
      const transfer = [controlThere, ports.previous, ...Object.values(own).flat()];
      threads.push({ worker: await startWorker('pipeline-worker', { recipe, backend, config, ports, signal }, transfer, control), control });
    }
  } catch (err) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw err;
  }

  let stage0: Stage | undefined;
  let layers: [number, number][] | undefined;
  let step = 0;
  let closed = false;
  let timing: PipelineTiming | undefined;

  const estimate = (network: Network, batch: Batch, loss: RowLoss, seed = 0, options: EstimateOptions = {}): GradientEstimate => {
    check(!closed, () => 'pipeline: estimate after close()');
    check(regularizersOf(loss).length === 0, () => 'pipeline: rate regularisers read the spikes of every stage; train them without --pipeline');
    const B = batch.input.shape[0]!;
    check(
      batch.labels.shape.length === 1 && batch.labels.shape[0] === B,
      () => `lr: labels must have shape [${B}] (one per sample), got [${batch.labels.shape.join(', ')}]`,
    );
    const M = fixedMicroBatches ? microBatches : Math.min(microBatches, B);
    check(B >= M, () => `pipeline: a batch of ${B} cannot be cut into ${M} micro-batches; lower microBatches or raise the batch size`);
    if (!stage0 || stage0.net !== network) stage0 = new Stage(network, c, loss);
    if (!layers) {
      const starts = o.split ? [...o.split] : balancedSplit(layerWork(network, batch.input.shape[1]!, c.plan.copies, batch.constantInTime === true), stages);
      const bounds = [0, ...starts, network.layers.length];
      layers = bounds.slice(0, -1).map((from, s) => [from, bounds[s + 1]!]);
    }
    step++;
    const started = performance.now();
    let waited = 0;
    const bounds = Array.from({ length: M + 1 }, (_, m) => Math.round((m * B) / M));
    const names = parameterNames(network);
    const sigmaScale = options.sigmaScale ?? 1;
    const common = { step, bounds, seed, sigmaScale, constantInTime: batch.constantInTime === true };
    const labels = batch.labels.dataSync() as Int32Array;
    threads.forEach((th, i) => {
      const [from, to] = layers![i + 1]!;
      const params = network.layers
        .slice(from, to)
        .flatMap((l) => Object.values(l.params).map((v) => ({ name: names.get(v)!, values: (v.dataSync() as Float32Array).slice() })));
      const task: StageTask = { ...common, layers: layers![i + 1]!, labels: labels.slice(), params };
      th.control.postMessage(task, [task.labels.buffer, ...params.map((p) => p.values.buffer)] as ArrayBuffer[]);
    });
    const stage = stage0;
    stage.begin({ ...common, layers: layers[0]!, labels, params: [] });
    const waits = stage.waitsForLoss();
    const pending = new Map<number, CopyForward>();
    const results: (StageResult | undefined)[] = threads.map(() => undefined);
    let backwardDone = 0;
    let seen = Atomics.load(signal, 0);
    // takes whatever the workers have sent: row weights for stage 0, results
    const drain = () => {
      for (let r = receiveMessageOnPort(weightsIn0); r; r = receiveMessageOnPort(weightsIn0)) {
        const w = r.message as RowWeights;
        if (w.step !== step || !waits) continue;
        const fwd = pending.get(w.m);
        if (!fwd) throw new SpikelrError(`pipeline: row weights for micro-batch ${w.m}, which stage 0 has not run`);
        pending.delete(w.m);
        stage.backward(w.m, fwd, w);
        backwardDone++;
      }
      threads.forEach((th, i) => {
        // a result of an earlier, failed step is stale
        for (let r = receiveMessageOnPort(th.control); r; r = receiveMessageOnPort(th.control)) {
          const result = r.message as StageResult;
          if (result.step === step) results[i] = result;
        }
      });
      const failed = results.find((r): r is Extract<StageResult, { ok: false }> => r !== undefined && !r.ok);
      if (failed) throw new SpikelrError(`pipeline stage failed: ${failed.error}`);
    };
    try {
      for (let m = 0; m < M; m++) {
        const x = tf.slice(batch.input, bounds[m]!, bounds[m + 1]! - bounds[m]!);
        let fwd: CopyForward;
        try {
          fwd = stage.forward(m, x);
        } finally {
          x.dispose();
        }
        toStage1.postMessage(packActivation(step, m, fwd.output));
        fwd.output.dispose();
        if (waits) pending.set(m, fwd);
        else {
          // stage 0's blocks end in their own heads: its gradients need nothing from the last stage
          stage.backward(m, fwd, undefined);
          backwardDone++;
        }
        drain();
      }
      while (backwardDone < M || results.some((r) => r === undefined)) {
        const before = performance.now();
        // nothing from any stage within the bound: one has died without a word
        if (!waitWhile(signal, 0, seen))
          throw new SpikelrError(
            `pipeline: no stage answered within ${threadTimeoutSeconds()} s (one may have died); the run stops here and resumes from its last checkpoint (SPIKELR_THREAD_TIMEOUT_S sets the bound)`,
          );
        waited += performance.now() - before;
        seen = Atomics.load(signal, 0);
        drain();
      }
    } catch (err) {
      for (const f of pending.values()) f.dispose();
      stage.reset();
      throw err;
    }
    const own = stage.take();
    const gradients = own.gradients;
    const byName = variablesByName(names);
    let lossValue = 0;
    for (const r of results) {
      if (!r?.ok) continue;
      lossValue += r.loss;
      addNamed(gradients, byName, r.gradients, 1, 'pipeline worker');
    }
    const wallMs = performance.now() - started;
    timing = { wallMs, busyMs: [wallMs - waited, ...results.map((r) => (r?.ok ? r.busyMs : 0))] };
    return { gradients, loss: lossValue, dispose: () => tf.dispose([...gradients.values()]) };
  };

  return {
    name: `lr(K=${c.plan.copies}, ${c.plan.sampling}, ${c.score} score, ${c.baseline} baseline${c.signScores ? ', sign' : ''}; pipeline of ${stages} stages, ${microBatches} micro-batches)`,
    stageLayers: () => layers,
    lastTiming: () => timing,
    microBatches,
    estimate,
    async close() {
      if (closed) return;
      closed = true;
      stage0?.reset();
      await Promise.all(
        threads.map(async (th) => {
          th.control.close();
          await th.worker.terminate();
        }),
      );
      toStage1.close();
      weightsIn0.close();
    },
  };
}
