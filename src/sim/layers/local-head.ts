/**
 * Local heads: a small linear readout of one layer's time-mean output, y = s̄ W + b with s̄ the mean
 * over time of the layer's output `[rows, F]` (F its output flattened) and C classes. A layer with a
 * head ends a block of the network (local-module training, ULR §local modules; Ren et al. 2022): the
 * layers of the block are trained on the head's cross-entropy instead of the network's loss, and no
 * gradient crosses into the block before. The head's weights are the layer's parameters
 * `localWeight` `[F, C]` and `localBias` `[C]` (saved, checkpointed and optimised with it), trained
 * by the exact gradient of that cross-entropy — a derivative of the loss alone, local to the head
 * (learning/local-heads.ts). The network's own output never reads a head.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
import { initVariable } from './common.js';
import type { BuildContext, Layer, LocalHeadSpec } from './types.js';

export type { LocalHeadSpec } from './types.js';

/** The names of a head's parameters in its layer's `params`. */
export const LOCAL_HEAD_PARAMS = ['localWeight', 'localBias'] as const;

/** Validates a spec's `localHead` field (undefined: no head). */
export function checkLocalHead(where: string, o: unknown): LocalHeadSpec | undefined {
  if (o === undefined) return undefined;
  check(typeof o === 'object' && o !== null && !Array.isArray(o), () => `${where}: localHead must be { classes: N }, got ${show(o)}`);
  checkKeys(`${where}: localHead`, o, ['classes']);
  const classes = (o as { classes?: unknown }).classes;
  checkInteger(`${where}: localHead`, 'classes', classes, 2);
  return { classes };
}

/** `layer` with a head on its output: its parameters added (seeded from the layer's slots 14 and 15). */
export function attachLocalHead(layer: Layer, head: LocalHeadSpec, ctx: BuildContext): Layer {
  check(
    layer.neuron !== undefined,
    () =>
      `${ctx.where}: a local head reads a layer's neurons; a stateless layer (pooling, flatten) has none — put the head on the layer with neurons before it`,
  );
  const features = layer.outputShape.reduce((a, b) => a * b, 1);
  const params = {
    ...layer.params,
    localWeight: initVariable([features, head.classes], features, ctx.key(14), ctx.varName('localWeight')),
    localBias: initVariable([head.classes], features, ctx.key(15), ctx.varName('localBias')),
  };
  return { ...layer, params, localHead: head };
}

/** The head's logits `[rows, C]` from its layer's time-mean output `[rows, …out]`. */
export function localHeadLogits(layer: Layer, meanOutput: tf.Tensor): tf.Tensor {
  const w = layer.params['localWeight'],
    b = layer.params['localBias'];
  check(w !== undefined && b !== undefined, () => `local head: layer '${layer.name}' has no local head`);
  return tf.tidy(() => tf.add(tf.matMul(tf.reshape(meanOutput, [meanOutput.shape[0]!, -1]), w), b));
}

/**
 * The blocks a network's heads cut it into: for each layer index, the index of the head layer that
 * ends its block, or −1 for the layers after the last head (trained on the network's own loss).
 */
export function blockEnds(layers: readonly Layer[]): number[] {
  const ends = new Array<number>(layers.length).fill(-1);
  let next = -1;
  for (let i = layers.length - 1; i >= 0; i--) {
    // the last layer's loss is the network's: a head there would be a second readout of the same block
    if (layers[i]!.localHead && i < layers.length - 1) next = i;
    ends[i] = next;
  }
  return ends;
}
