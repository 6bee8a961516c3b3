/** Max pooling over space for each step; on spikes it is an OR over the window. */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
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
    const { poolSize: k, stride } = spec;
    // the k² elements of every window as channels: a stride-s convolution by one-hot filters,
    // channel (i·k + j)·C + ch holding x[s·r + i, s·q + j, ch] (exact: products with 1, sums with 0)
    const picks = tf.tidy(() => {
      const f = new Float32Array(k * k * c * k * k * c);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let ch = 0; ch < c; ch++) f[((i * k + j) * c + ch) * k * k * c + (i * k + j) * c + ch] = 1;
      return tf.variable(tf.tensor4d(f, [k, k, c, k * k * c]), false, ctx.varName('windowPicks'));
    });
    const maxOf = (x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, k, stride, 'valid');
    const windows = (x: tf.Tensor) => tf.reshape(tf.conv2d(x as tf.Tensor4D, picks as tf.Tensor4D, stride, 'valid'), [x.shape[0]!, outH, outW, k * k, c]);
    /**
     * 1 at each window's first maximum in row-major order `[M, outH, outW, k², C]`. Spikes tie all
     * the time (and a silent window ties everywhere); the first is PyTorch's choice, and spikelr's on
     * every backend (the stock kernels differ: cpu takes the first, wasm the last and none in a
     * silent window), for the gradient and the tangent alike.
     */
    const firstMax = (x: tf.Tensor, y: tf.Tensor) =>
      tf.tidy(() => {
        const hit = tf.cast(tf.equal(windows(x), tf.expandDims(y, 3)), 'float32');
        return tf.mul(hit, tf.cast(tf.equal(tf.cumsum(hit, 3), 1), 'float32'));
      });
    const pool = tf.customGrad(((x: tf.Tensor4D, save: tf.GradSaveFunc) => {
      const y = maxOf(x);
      save([x, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const [input, out] = saved as [tf.Tensor4D, tf.Tensor4D];
            const routed = tf.reshape(tf.mul(firstMax(input, out), tf.expandDims(dy as tf.Tensor, 3)), [input.shape[0], outH, outW, k * k * c]) as tf.Tensor4D;
            // the windows' transpose puts each routed value back where it was read
            return tf.conv2dTranspose(routed, picks as tf.Tensor4D, input.shape, stride, 'valid');
          }),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
    const map = (x: tf.Tensor) => pool(x);
    /** The tangent: each output's is its window's first maximum's, the element the gradient routes to. */
    const jvp = (x: tf.Tensor, dx: tf.Tensor | undefined) =>
      tf.tidy(() => {
        if (!dx) return tf.zeros([x.shape[0]!, outH, outW, c]);
        return tf.sum(tf.mul(firstMax(x, maxOf(x)), windows(dx)), 3);
      });
    return {
      name: ctx.name,
      spec,
      inputShape: ctx.inputShape,
      outputShape: [outH, outW, c],
      neuron: undefined,
      params: {},
      coefficients: {},
      constants: { windowPicks: picks },
      learned: [],
      mapParams: [],
      map,
      currents: map,
      vjp: () => ({}),
      jvp,
    };
  },
  nir: (_layer, c) => c.refuse('NIR has no max pooling (it has SumPool2d and AvgPool2d): use sumPool2d or avgPool2d'),
} satisfies LayerKind<MaxPool2dSpec>;
