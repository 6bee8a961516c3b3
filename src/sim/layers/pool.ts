/**
 * Sum and average pooling over space for each step (NIR's SumPool2d and AvgPool2d; sinabs and
 * snnTorch export them). `padding` zeros on every side count in the average, as in PyTorch.
 * A sum of spikes is a count: computed as a convolution by a kernel of ones on each channel's own
 * (ones ⊗ identity), so it is exact, and its gradient is the convolution's (the wasm backend has no
 * depthwise input gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
import { checkImage, checkName, named, type Named } from './common.js';
import { conv2dOp } from '../conv.js';
import { convOutput } from './conv2d.js';
import type { BuildContext, Layer, LayerKind } from './types.js';
import { ints, nirNode } from '../../neurons/nir.js';
import type { NirLayerExport } from './nir-types.js';

export interface PoolSpec<K extends 'sumPool2d' | 'avgPool2d'> {
  readonly kind: K;
  readonly name?: string;
  readonly poolSize: number;
  readonly stride: number;
  readonly padding: number;
}
export type SumPool2dSpec = PoolSpec<'sumPool2d'>;
export type AvgPool2dSpec = PoolSpec<'avgPool2d'>;

export type PoolOptions = Named & { readonly poolSize: number; readonly stride?: number; readonly padding?: number };

function pool<K extends 'sumPool2d' | 'avgPool2d'>(kind: K, o: PoolOptions): PoolSpec<K> {
  checkKeys(kind, o, ['name', 'poolSize', 'stride', 'padding']);
  checkName(kind, o.name);
  checkInteger(kind, 'poolSize', o.poolSize, 1);
  const stride = o.stride ?? o.poolSize;
  checkInteger(kind, 'stride', stride, 1);
  const padding = o.padding ?? 0;
  checkInteger(kind, 'padding', padding, 0);
  return named({ kind, poolSize: o.poolSize, stride, padding }, o.name);
}

/** The sum of each window (a spike count). @example sumPool2d({ poolSize: 2 }) */
export const sumPool2d = (o: PoolOptions): SumPool2dSpec => pool('sumPool2d', o);
/** The mean of each window. @example avgPool2d({ poolSize: 2 }) */
export const avgPool2d = (o: PoolOptions): AvgPool2dSpec => pool('avgPool2d', o);

function buildPool(spec: PoolSpec<'sumPool2d' | 'avgPool2d'>, ctx: BuildContext): Layer {
  const [h, w, c] = checkImage(ctx);
  const { poolSize: k, stride, padding } = spec;
  const outH = convOutput(h, k, stride, padding),
    outW = convOutput(w, k, stride, padding);
  check(outH > 0 && outW > 0, () => `${ctx.where}: pool ${k} with padding ${padding} does not fit input ${show(ctx.inputShape)}`);
  const padded = (x: tf.Tensor) =>
    (padding > 0
      ? tf.pad(x, [
          [0, 0],
          [padding, padding],
          [padding, padding],
          [0, 0],
        ])
      : x) as tf.Tensor4D;
  const average = (x: tf.Tensor) => tf.avgPool(padded(x), k, stride, 'valid');
  const ones =
    spec.kind === 'sumPool2d'
      ? tf.tidy(() => tf.variable(tf.mul(tf.ones([k, k, 1, 1]), tf.reshape(tf.eye(c), [1, 1, c, c])), false, ctx.varName('ones')))
      : undefined;
  const conv = conv2dOp(stride, padding);
  const map = (x: tf.Tensor) => tf.tidy(() => (ones ? conv(x as tf.Tensor4D, ones as tf.Tensor4D) : average(x)));
  return {
    name: ctx.name,
    spec,
    inputShape: ctx.inputShape,
    outputShape: [outH, outW, c],
    neuron: undefined,
    params: {},
    coefficients: {},
    learned: [],
    mapParams: [],
    map,
    currents: map,
    ...(ones ? { constants: { ones } } : {}),
    vjp: () => ({}),
    // linear: the tangent is the pool of the input's tangent
    jvp: (x, dx) => (dx ? map(dx) : tf.zeros([x.shape[0]!, outH, outW, c])),
  };
}

/** NIR's SumPool2d or AvgPool2d. */
const poolNir =
  (type: string) =>
  (layer: Layer): NirLayerExport => {
    const s = layer.spec as PoolSpec<'sumPool2d' | 'avgPool2d'>;
    return {
      chain: [['', nirNode(type, { kernel_size: ints([s.poolSize, s.poolSize]), stride: ints([s.stride, s.stride]), padding: ints([s.padding, s.padding]) })]],
    };
  };

export const sumPool2dKind = {
  kind: 'sumPool2d',
  fromRecord: (o) => sumPool2d(o as never),
  build: buildPool,
  nir: poolNir('SumPool2d'),
} satisfies LayerKind<SumPool2dSpec>;
export const avgPool2dKind = {
  kind: 'avgPool2d',
  fromRecord: (o) => avgPool2d(o as never),
  build: buildPool,
  nir: poolNir('AvgPool2d'),
} satisfies LayerKind<AvgPool2dSpec>;
