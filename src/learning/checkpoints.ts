/**
 * A run directory's files and the checkpoint: the counters it keeps besides the parameters and
 * the optimizer's state, and the resume that restores all three and cuts the metrics log back to
 * where the checkpoint was written.
 */
import * as tf from '@tensorflow/tfjs';
import type { EpochRecord, TrainResult } from './train-options.js';
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { check, SpikelrError } from '../core/errors.js';
import { deserializeModel, WRITE_TEMPORARY, type NamedValues } from '../io/network-file.js';
import { crc32 } from 'node:zlib';
import type { Network } from '../sim/network.js';
import type { Optimizer } from './optim.js';

/** Counters a checkpoint stores besides tensors. */
export interface TrainerState {
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

/** Learnable variables of the network by stable names `<layer>.<param>`. */
export function parameterNames(net: Network): Map<tf.Variable, string> {
  return new Map(net.layers.flatMap((l) => Object.entries(l.params).map(([p, v]) => [v, `${l.name}.${p}`] as const)));
}

export async function optimizerValues(opt: Optimizer): Promise<NamedValues[]> {
  const out: NamedValues[] = [];
  for (const [name, t] of opt.state()) out.push({ name: `optimizer.${name}`, shape: t.shape, values: new Float32Array(await t.data()) });
  return out;
}

/** Copies every parameter of `from` into the same-named parameter of `to`, then disposes `from`. */
export function copyParameters(from: Network, to: Network): void {
  to.layers.forEach((layer, i) => {
    for (const [p, v] of Object.entries(layer.params)) v.assign(from.layers[i]!.params[p]!);
  });
  from.dispose();
}

/** Loads the run directory's checkpoint into the network, the optimizer and the counters. */
export async function restore(net: Network, opt: Optimizer, runDir: string, state: TrainerState): Promise<void> {
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
