/**
 * A worker thread of {@link pipelinedLR}: one stage after the first. It builds its backend and the
 * recipe's network (the whole network; it runs only its layers), then for every step:
 * takes the task (its parameters and the micro-batch bounds) from the calling thread, runs each
 * micro-batch's activations from the previous stage as they arrive and passes its output on; the
 * last stage computes each micro-batch's losses and row weights and sends the weights back to
 * every earlier stage; a stage forms a micro-batch's gradients as soon as its weights arrive.
 * When all micro-batches are done it replies with its summed gradients (and, last, the loss).
 * Everything it posts that the calling thread waits for is followed by a bump of the shared
 * `signal` word, on which that thread sleeps.
 */
import * as tf from '@tensorflow/tfjs';
import { workerData, type MessagePort } from 'node:worker_threads';
import { validate, type LRConfig } from './estimators/lr.js';
import type { CopyForward } from './forward.js';
import { parameterNames } from './trainer.js';
import { recipeParts, type ShardRecipe } from './parallel.js';
import { packActivation, Stage, unpackActivation, type Activation, type RowWeights, type StageResult, type StageTask } from './pipeline-stage.js';

interface Ports {
  readonly control: MessagePort;
  /** Activations from the previous stage. */
  readonly previous: MessagePort;
  /** Activations to the next stage (all but the last). */
  readonly next?: MessagePort;
  /** Row weights from the last stage (all but the last). */
  readonly weightsIn?: MessagePort;
  /** Row weights to each earlier stage, stage 0 first (the last stage only). */
  readonly weightsOut?: readonly MessagePort[];
}

const { recipe, backend, config, ports, signal } = workerData as { recipe: ShardRecipe; backend: string; config: LRConfig; ports: Ports; signal: Int32Array };

function wake(): void {
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function reply(message: StageResult, transfer: ArrayBuffer[] = []): void {
  ports.control.postMessage(message, transfer);
  wake();
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

try {
  const { network, loss } = await recipeParts(recipe, backend);
  const stage = new Stage(network, validate(config), loss);
  const names = parameterNames(network);
  let task: StageTask | undefined;
  let failed = false;
  let done = 0;
  const early: Activation[] = [];
  const waiting = new Map<number, CopyForward>();
  const weightsFirst = new Map<number, RowWeights>();

  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    for (const f of waiting.values()) f.dispose();
    waiting.clear();
    stage.reset();
    reply({ ok: false, step: task?.step ?? -1, error: messageOf(err) });
  };
  const completed = () => {
    if (++done < task!.bounds.length - 1) return;
    const { gradients, loss: value } = stage.take();
    const out = [...gradients].map(([v, g]) => ({ name: names.get(v)!, values: g.dataSync() as Float32Array }));
    tf.dispose([...gradients.values()]);
    reply(
      { ok: true, step: task!.step, loss: value, gradients: out, busyMs: busy },
      out.map((g) => g.values.buffer as ArrayBuffer),
    );
  };
  const run = (a: Activation) => {
    const input = unpackActivation(a);
    let fwd: CopyForward;
    try {
      fwd = stage.forward(a.m, input);
    } finally {
      input.dispose();
    }
    if (ports.next) {
      ports.next.postMessage(packActivation(a.step, a.m, fwd.output));
      fwd.output.dispose();
    }
    if (ports.weightsOut) {
      const weights = stage.finish(a.m, fwd);
      for (const p of ports.weightsOut) p.postMessage({ step: a.step, m: a.m, ...weights } satisfies RowWeights);
      // stage 0 is the calling thread, asleep on the signal
      wake();
      completed();
      return;
    }
    // a stage whose blocks all end in their own heads needs nothing from the last stage
    if (!stage.waitsForLoss()) {
      stage.backward(a.m, fwd, undefined);
      completed();
      return;
    }
    const w = weightsFirst.get(a.m);
    if (w) {
      weightsFirst.delete(a.m);
      stage.backward(a.m, fwd, w);
      completed();
    } else waiting.set(a.m, fwd);
  };
  let busy = 0;
  const guarded = (f: () => void) => {
    if (failed) return;
    const start = performance.now();
    try {
      f();
    } catch (err) {
      fail(err);
    } finally {
      busy += performance.now() - start;
    }
  };

  ports.control.on('message', (t: StageTask) => {
    for (const f of waiting.values()) f.dispose();
    waiting.clear();
    weightsFirst.clear();
    failed = false;
    done = 0;
    busy = 0;
    task = t;
    guarded(() => {
      stage.begin(t);
      for (const a of early.splice(0)) if (a.step === t.step) run(a);
    });
  });
  ports.previous.on('message', (a: Activation) => {
    if (!task || a.step > task.step) early.push(a);
    else if (a.step === task.step) guarded(() => run(a));
  });
  ports.weightsIn?.on('message', (r: RowWeights) => {
    if (!task || r.step !== task.step) return;
    guarded(() => {
      if (!stage.waitsForLoss()) return;
      const fwd = waiting.get(r.m);
      if (!fwd) {
        weightsFirst.set(r.m, r);
        return;
      }
      waiting.delete(r.m);
      stage.backward(r.m, fwd, r);
      completed();
    });
  });
  ports.control.postMessage({ ready: true });
} catch (err) {
  ports.control.postMessage({ error: messageOf(err) });
}
