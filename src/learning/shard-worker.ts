/**
 * The worker thread of {@link shardedEstimator}: builds its backend and the recipe's network,
 * estimator and loss, then for every task sets the parameters, estimates on its shard and replies
 * with the gradients and the loss (flagging completion on the shared `done` word).
 */
import * as tf from '@tensorflow/tfjs';
import { workerData, type MessagePort } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import type { ShardParts, ShardRecipe, ShardResult, ShardTask } from './parallel.js';
import { parameterNames } from './trainer.js';

const { recipe, backend, port, done } = workerData as { recipe: ShardRecipe; backend: string; port: MessagePort; done: Int32Array };

function reply(message: ShardResult, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

try {
  await initBackend({ backend, log: null });
  const factory = (await import(recipe.module))[recipe.exportName] as ((args: unknown) => ShardParts | Promise<ShardParts>) | undefined;
  if (typeof factory !== 'function') throw new Error(`${recipe.module} has no function export '${recipe.exportName}'`);
  const { network, estimator, loss } = await factory(recipe.args);
  const names = parameterNames(network);
  const variables = new Map([...names].map(([v, name]) => [name, v]));
  port.on('message', (task: ShardTask) => {
    try {
      for (const { name, values } of task.params) {
        const v = variables.get(name);
        if (!v) throw new Error(`the recipe's network has no parameter '${name}'`);
        v.assign(tf.tensor(values, v.shape));
      }
      const input = tf.tensor(task.input, task.inputShape);
      const labels = tf.tensor1d(task.labels, 'int32');
      const e = estimator.estimate(network, { input, labels, constantInTime: task.constantInTime }, loss, task.seed, task.options);
      const gradients = [...e.gradients].map(([v, g]) => ({ name: names.get(v)!, values: g.dataSync() as Float32Array }));
      const value = e.loss;
      e.dispose();
      tf.dispose([input, labels]);
      reply({ ok: true, loss: value, gradients }, gradients.map((g) => g.values.buffer as ArrayBuffer));
    } catch (err) {
      reply({ ok: false, error: messageOf(err) });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ error: messageOf(err) });
}
