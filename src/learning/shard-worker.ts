/**
 * The worker thread of {@link shardedEstimator}: builds its backend and the recipe's network,
 * estimator and loss, then for every task sets the parameters, estimates on its shard and replies
 * with the gradients and the loss (flagging completion on the shared `done` word).
 */
import * as tf from '@tensorflow/tfjs';
import { workerData, type MessagePort } from 'node:worker_threads';
import { assignNamed, recipeParts, variablesByName, type ShardRecipe, type ShardResult, type ShardTask } from './parallel.js';
import { parameterNames } from './trainer.js';

const { recipe, backend, port, done } = workerData as { recipe: ShardRecipe; backend: string; port: MessagePort; done: Int32Array };

function reply(message: ShardResult, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

try {
  const { network, estimator, loss } = await recipeParts(recipe, backend);
  const names = parameterNames(network);
  const variables = variablesByName(names);
  port.on('message', (task: ShardTask) => {
    try {
      assignNamed(variables, task.params);
      const input = tf.tensor(task.input, task.inputShape);
      const labels = tf.tensor1d(task.labels, 'int32');
      const e = estimator.estimate(network, { input, labels, constantInTime: task.constantInTime }, loss, task.seed, task.options);
      const gradients = [...e.gradients].map(([v, g]) => ({ name: names.get(v)!, values: g.dataSync() as Float32Array }));
      const value = e.loss;
      e.dispose();
      tf.dispose([input, labels]);
      reply(
        { ok: true, loss: value, gradients },
        gradients.map((g) => g.values.buffer as ArrayBuffer),
      );
    } catch (err) {
      reply({ ok: false, error: messageOf(err) });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ error: messageOf(err) });
}
