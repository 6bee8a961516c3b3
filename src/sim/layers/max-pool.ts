/** Max pooling over space for each step; on spikes it is an OR over the window. */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../errors.js';
import { checkImage, checkName, named, type Named } from './common.js';
import { convOutput } from './conv2d.js';
import type { LayerKind } from './types.js';

export interface MaxPool2dSpec {
  readonly kind: 'maxPool2d';
  readonly name?: string;
  readonly poolSize: number;
  readonly stride: number;
}

export function maxPool2d(o: Named & { readonly poolSize: number; readonly stride?: number }): MaxPool2dSpec {
  checkKeys('maxPool2d', o, ['name', 'poolSize', 'stride']);
  checkName('maxPool2d', o.name);
  checkInteger('maxPool2d', 'poolSize', o.poolSize, 1);
  const stride = o.stride ?? o.poolSize;
  checkInteger('maxPool2d', 'stride', stride, 1);
  return named({ kind: 'maxPool2d' as const, poolSize: o.poolSize, stride }, o.name);
}

export const maxPool2dKind = {
  kind: 'maxPool2d',
  fromRecord: (o) => maxPool2d(o as never),
  build(spec, ctx) {
    const [h, w, c] = checkImage(ctx);
    const outH = convOutput(h, spec.poolSize, spec.stride, 'valid');
    const outW = convOutput(w, spec.poolSize, spec.stride, 'valid');
    check(outH > 0 && outW > 0, () => `${ctx.where}: pool ${spec.poolSize} does not fit input ${show(ctx.inputShape)}`);
    const map = (x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, spec.poolSize, spec.stride, 'valid');
    // no parameters; no JVP: the max of binary spikes ties, so its derivative is not defined
    return { name: ctx.name, spec, inputShape: ctx.inputShape, outputShape: [outH, outW, c], neuron: undefined, params: {}, coefficients: {}, learned: [], mapParams: [], map, currents: map, vjp: () => ({}) };
  },
  nir: (_layer, c) => c.refuse('NIR has no max pooling (it has SumPool2d and AvgPool2d): use sumPool2d or avgPool2d'),
} satisfies LayerKind<MaxPool2dSpec>;
