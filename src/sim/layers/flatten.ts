/** Flattens `[H, W, C]` to `[H·W·C]` for each step. */
import * as tf from '@tensorflow/tfjs';
import { checkKeys } from '../../core/errors.js';
import { checkName, named, type Named } from './common.js';
import type { LayerKind } from './types.js';
import { ints, nirNode } from '../../neurons/nir.js';
import { chwOrder, nirShape } from './nir.js';

export interface FlattenSpec {
  readonly kind: 'flatten';
  readonly name?: string;
}

export function flatten(o: Named = {}): FlattenSpec {
  checkKeys('flatten', o, ['name']);
  checkName('flatten', o.name);
  return named({ kind: 'flatten' as const }, o.name);
}

export const flattenKind = {
  kind: 'flatten',
  fromRecord: (o) => flatten(o as Named),
  build(spec, ctx) {
    const size = ctx.inputShape.reduce((a, b) => a * b, 1);
    const map = (x: tf.Tensor) => tf.reshape(x, [x.shape[0]!, size]);
    return {
      name: ctx.name,
      spec,
      inputShape: ctx.inputShape,
      outputShape: [size],
      neuron: undefined,
      params: {},
      coefficients: {},
      learned: [],
      mapParams: [],
      map,
      currents: map,
      vjp: () => ({}),
      jvp: (x, dx) => (dx ? map(dx) : tf.zeros([x.shape[0]!, size])),
    };
  },
  // NIR flattens an image as [C, H, W], spikelr as [H, W, C]: the next layer reads its input in NIR's order
  nir(layer, c) {
    const [h, w, ch] = layer.inputShape;
    const node = nirNode('Flatten', { start_dim: ints([0], true), end_dim: ints([-1], true), input_type: ints(nirShape(layer.inputShape)) });
    const outputOrder = layer.inputShape.length === 3 ? chwOrder(h!, w!, ch!) : c.inputOrder;
    return { chain: [['', node]], ...(outputOrder ? { outputOrder } : {}) };
  },
} satisfies LayerKind<FlattenSpec>;
