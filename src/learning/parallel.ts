/**
 * Batch shards on worker threads: both cores of a machine for one estimate (issue 6).
 *
 * tfjs's wasm backend runs on one thread in Node (its threaded build is disabled there), so a
 * second core sits idle. {@link shardedEstimator} splits every batch into `workers + 1` contiguous
 * shards: the calling thread estimates the first with its own network, each worker thread the
 * next with a replica built by the same recipe on its own backend. Per step a worker receives the
 * current parameters and its shard, and returns its gradients and loss; the results are combined
 * as the batch mean, Σ_i (B_i/B)·ĝ_i, which is the whole batch's estimate for every estimator
 * whose loss is a mean over samples (LR, BPTT). The parameters and the optimizer stay on the
 * calling thread, so the training loop, its checkpoints and its resume are unchanged.
 *
 * The estimate stays synchronous: the calling thread blocks on a shared flag (Atomics.wait) until
 * the workers are done and takes their messages with receiveMessageOnPort.
 *
 * Shard i draws its noise from the stream streamKey(seed, i): a run is reproducible from its seed
 * for a given number of workers, but the noise (hence the result) differs between worker counts.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { check, SpikelrError } from '../core/errors.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import type { Batch, EstimateOptions, Estimator, GradientEstimate } from './estimators/lr.js';
import type { RowLoss } from './losses.js';
import { initBackend } from '../kernels/backend.js';
import { compiledModule } from '../core/compiled-module.js';

export { compiledModule } from '../core/compiled-module.js';
import { parameterNames } from './trainer.js';
import { threadTimeoutSeconds, waitWhile } from '../core/bounded-wait.js';

/**
 * Where a worker gets its network, estimator and loss: module `module` (a file URL) exports
 * `exportName`, a function of `args` (structured-cloneable) returning them, or a promise of them.
 * The network must have the layers and parameter shapes of the one trained on the calling thread.
 */
export interface ShardRecipe {
  readonly module: string;
  readonly exportName: string;
  readonly args?: unknown;
}

export interface ShardParts {
  readonly network: Network;
  readonly estimator: Estimator;
  readonly loss: RowLoss;
}

export interface ShardedEstimator extends Estimator {
  /** Worker threads (the calling thread estimates one more shard). */
  readonly workers: number;
  /** Terminates the workers; the estimator cannot be used after. */
  close(): Promise<void>;
}

export interface ShardOptions {
  /** Worker threads besides the calling one (default 1: two shards, for two cores). */
  readonly workers?: number;
  /** The workers' backend (default the calling thread's, or `wasm`). */
  readonly backend?: string;
}

/** Messages between the threads (the numbers travel as transferred typed arrays). */
export interface ShardTask {
  readonly params: { readonly name: string; readonly values: Float32Array }[];
  readonly input: Float32Array;
  readonly inputShape: number[];
  readonly labels: Int32Array;
  readonly constantInTime: boolean;
  readonly seed: number;
  readonly options: EstimateOptions;
}
export type ShardResult =
  | { readonly ok: true; readonly loss: number; readonly gradients: { readonly name: string; readonly values: Float32Array }[] }
  | { readonly ok: false; readonly error: string };

/** Named float32 values: parameters and gradients as they cross between threads. */
export type NamedArrays = readonly { readonly name: string; readonly values: Float32Array }[];

/** A network's variables by name, from its {@link parameterNames} (`layer.param`). */
export function variablesByName(names: ReadonlyMap<tf.Variable, string>): Map<string, tf.Variable> {
  return new Map([...names].map(([v, name]) => [name, v]));
}

/**
 * Sets each named variable to its values (a worker taking the calling thread's parameters),
 * freeing the temporary each value arrives in; a name the network lacks is an error.
 */
export function assignNamed(variables: ReadonlyMap<string, tf.Variable>, params: NamedArrays): void {
  for (const { name, values } of params) {
    const v = variables.get(name);
    check(v !== undefined, () => `the recipe's network has no parameter '${name}'; every thread must build the same network`);
    const t = tf.tensor(values, v.shape);
    v.assign(t);
    t.dispose();
  }
}

/**
 * Adds a worker's named gradients, times `factor`, into `gradients` (the sums stay outside any
 * tidy); `who` names the worker in the error for a name the network lacks.
 */
export function addNamed(
  gradients: Map<tf.Variable, tf.Tensor>,
  variables: ReadonlyMap<string, tf.Variable>,
  named: NamedArrays,
  factor: number,
  who: string,
): void {
  for (const { name, values } of named) {
    const v = variables.get(name);
    if (!v) throw new SpikelrError(`${who} returned a gradient for '${name}', which the network does not have: the recipe must build the same network`);
    const previous = gradients.get(v);
    gradients.set(
      v,
      tf.tidy(() => {
        const term = factor === 1 ? tf.tensor(values, v.shape) : tf.mul(tf.tensor(values, v.shape), factor);
        return previous ? tf.add(previous, term) : term;
      }),
    );
    previous?.dispose();
  }
}

/** In a worker thread: its backend started, then the recipe's network, estimator and loss. */
export async function recipeParts(recipe: ShardRecipe, backend: string): Promise<ShardParts> {
  await initBackend({ backend, log: null });
  const factory = (await import(recipe.module))[recipe.exportName] as ((args: unknown) => ShardParts | Promise<ShardParts>) | undefined;
  if (typeof factory !== 'function') throw new Error(`${recipe.module} has no function export '${recipe.exportName}'`);
  return factory(recipe.args);
}

interface Thread {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly done: Int32Array;
}

/**
 * Starts the worker thread `script` (a module beside this one: `shard-worker`, `pipeline-worker`)
 * with `data`, whose `recipe` gets its module as compiled JavaScript; resolves once the thread
 * reports on `control` that it is ready (its backend up and the recipe's parts built).
 */
export async function startWorker(
  script: string,
  data: { readonly recipe: ShardRecipe } & Record<string, unknown>,
  transfer: readonly MessagePort[],
  control: MessagePort,
): Promise<Worker> {
  const here = fileURLToPath(import.meta.url);
  const file = compiledModule(path.join(path.dirname(here), `${script}${path.extname(here)}`));
  const module = pathToFileURL(compiledModule(fileURLToPath(data.recipe.module))).href;
  const worker = new Worker(file, { workerData: { ...data, recipe: { ...data.recipe, module } }, transferList: [...transfer] });
  const what = script.replace('-', ' ');
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      const report = (m: { ready?: true; error?: string }) => (m.ready ? resolve() : reject(new SpikelrError(`${what} failed to start: ${m.error}`)));
      // a thread that failed posts why and ends: its exit can overtake the message, which is then still queued
      worker.once('exit', (code) => {
        const queued = receiveMessageOnPort(control)?.message as { ready?: true; error?: string } | undefined;
        if (queued) report(queued);
        else reject(new SpikelrError(`${what} exited with code ${code} while starting`));
      });
      control.once('message', report);
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  worker.removeAllListeners('exit');
  worker.removeAllListeners('error');
  return worker;
}

/** Starts `workers` threads, each with its own backend and the recipe's parts, ready to estimate. */
export async function shardedEstimator(local: Estimator, recipe: ShardRecipe, o: ShardOptions = {}): Promise<ShardedEstimator> {
  const workers = o.workers ?? 1;
  check(Number.isInteger(workers) && workers >= 1, () => `shardedEstimator: workers must be an integer ≥ 1, got ${workers}`);
  const backend = o.backend ?? tf.getBackend() ?? 'wasm';
  const threads: Thread[] = await Promise.all(
    Array.from({ length: workers }, async () => {
      const { port1, port2 } = new MessageChannel();
      const done = new Int32Array(new SharedArrayBuffer(4));
      const worker = await startWorker('shard-worker', { recipe, backend, port: port2, done }, [port2], port1);
      return { worker, port: port1, done };
    }),
  );
  let closed = false;

  const estimate = (net: Network, batch: Batch, loss: RowLoss, seed = 0, options: EstimateOptions = {}): GradientEstimate => {
    check(!closed, () => 'shardedEstimator: estimate after close()');
    const B = batch.input.shape[0]!;
    const shards = threads.length + 1;
    check(B >= shards, () => `shardedEstimator: a batch of ${B} cannot be split into ${shards} shards; lower workers or raise the batch size`);
    const bounds = Array.from({ length: shards + 1 }, (_, i) => Math.round((i * B) / shards));
    const names = parameterNames(net);
    const params = [...names].map(([v, name]) => ({ name, values: v.dataSync() as Float32Array }));
    const rowSize = batch.input.size / B;
    const input = batch.input.dataSync() as Float32Array;
    const labels = batch.labels.dataSync() as Int32Array;
    // hand shards 1… to the workers first, then estimate shard 0 here
    threads.forEach((th, i) => {
      const [from, to] = [bounds[i + 1]!, bounds[i + 2]!];
      const task: ShardTask = {
        params: params.map((p) => ({ name: p.name, values: p.values.slice() })),
        input: input.slice(from * rowSize, to * rowSize),
        inputShape: [to - from, ...batch.input.shape.slice(1)],
        labels: labels.slice(from, to),
        constantInTime: batch.constantInTime === true,
        seed: streamKey(seed, i + 1),
        options,
      };
      Atomics.store(th.done, 0, 0);
      th.port.postMessage(task, [task.input.buffer, task.labels.buffer, ...task.params.map((p) => p.values.buffer)] as ArrayBuffer[]);
    });
    const n0 = bounds[1]!;
    const own = tf.tidy(() => ({ input: tf.slice(batch.input, 0, n0), labels: tf.slice(batch.labels, 0, n0), constantInTime: batch.constantInTime === true }));
    let mine: GradientEstimate;
    try {
      mine = local.estimate(net, own, loss, streamKey(seed, 0), options);
    } finally {
      tf.dispose([own.input, own.labels]);
    }
    const results = threads.map((th, i) => {
      if (!waitWhile(th.done, 0, 0))
        throw new SpikelrError(
          `shard worker ${i + 1} did not answer within ${threadTimeoutSeconds()} s (it may have died); the run stops here and resumes from its last checkpoint (SPIKELR_THREAD_TIMEOUT_S sets the bound)`,
        );
      const r = receiveMessageOnPort(th.port)?.message as ShardResult | undefined;
      if (!r) throw new SpikelrError('shard worker signalled completion without a result');
      return r;
    });
    const failed = results.find((r): r is Extract<ShardResult, { ok: false }> => !r.ok);
    if (failed) {
      mine.dispose();
      throw new SpikelrError(`shard worker failed: ${failed.error}`);
    }
    const byName = variablesByName(names);
    const gradients = new Map<tf.Variable, tf.Tensor>();
    const share = (i: number) => (bounds[i + 1]! - bounds[i]!) / B;
    for (const [v, g] of mine.gradients) gradients.set(v, tf.mul(g, share(0)));
    results.forEach((r, i) => r.ok && addNamed(gradients, byName, r.gradients, share(i + 1), 'shard worker'));
    const totalLoss = results.reduce((sum, r, i) => sum + (r.ok ? r.loss * share(i + 1) : 0), mine.loss * share(0));
    mine.dispose();
    return { gradients, loss: totalLoss, dispose: () => tf.dispose([...gradients.values()]) };
  };

  return {
    name: `${local.name} (sharded, ${workers + 1} threads)`,
    workers,
    estimate,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        threads.map(async (th) => {
          th.port.close();
          await th.worker.terminate();
        }),
      );
    },
  };
}
