/** A spiking convolution (NHWC): I_t = conv(x_t, K) + b, square kernel. */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, checkOneOf, show } from '../../core/errors.js';
import { lif } from '../../neurons/lif.js';
import { conv2dFilterGradient, conv2dOp, paddingOf } from '../conv.js';
import { floats, ints, nirNode } from '../../neurons/nir.js';
import { effectiveWeights } from './nir.js';
import {
  affineLayer,
  checkImage,
  checkLearn,
  learnedNames,
  checkName,
  initVariable,
  learnedCoefficients,
  named,
  unitNeuron,
  type Learnable,
  type Named,
} from './common.js';
import type { UnitNeuron } from './dense.js';
import { decorrelator, type Decorrelate, type DecorrelateOptions } from './decorrelation.js';
import { decorrelateField } from './dense.js';
import type { LayerKind } from './types.js';

export const PADDINGS = ['same', 'valid'] as const;
/** 'same' (tfjs's), 'valid', or a number of zeros on every side (PyTorch's `padding=p`). */
export type Padding = (typeof PADDINGS)[number] | number;

export interface Conv2dSpec {
  readonly kind: 'conv2d';
  readonly name?: string;
  readonly filters: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: Padding;
  readonly neuron: UnitNeuron;
  readonly bias: boolean;
  readonly learn: readonly Learnable[];
  /** Patch-wise input decorrelation (R over the k·k·C patch vectors, padding included). */
  readonly decorrelate?: Decorrelate;
}

export function conv2d(
  o: Named & {
    readonly filters: number;
    readonly kernelSize: number;
    readonly stride?: number;
    readonly padding?: Padding;
    readonly neuron?: UnitNeuron;
    readonly bias?: boolean;
    readonly learn?: readonly Learnable[];
    readonly decorrelate?: DecorrelateOptions | boolean;
  },
): Conv2dSpec {
  checkKeys('conv2d', o, ['name', 'filters', 'kernelSize', 'stride', 'padding', 'neuron', 'bias', 'learn', 'decorrelate']);
  checkName('conv2d', o.name);
  checkInteger('conv2d', 'filters', o.filters, 1);
  checkInteger('conv2d', 'kernelSize', o.kernelSize, 1);
  const stride = o.stride ?? 1;
  checkInteger('conv2d', 'stride', stride, 1);
  const padding = o.padding ?? 'same';
  if (typeof padding === 'number') checkInteger('conv2d', 'padding', padding, 0);
  else checkOneOf('conv2d', 'padding', padding, PADDINGS);
  const neuron = unitNeuron('conv2d', o.neuron ?? lif());
  const learn = checkLearn('conv2d', o.learn, neuron);
  return named(
    {
      kind: 'conv2d' as const,
      filters: o.filters,
      kernelSize: o.kernelSize,
      stride,
      padding,
      neuron,
      bias: o.bias ?? true,
      learn,
      ...decorrelateField('conv2d', o.decorrelate),
    },
    o.name,
  );
}

export function convOutput(size: number, kernel: number, stride: number, padding: Padding): number {
  if (typeof padding === 'number') return Math.floor((size + 2 * padding - kernel) / stride) + 1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - kernel + 1) / stride);
}

export const conv2dKind = {
  kind: 'conv2d',
  fromRecord: (o) => conv2d(o as never),
  build(spec, ctx) {
    const [h, w, c] = checkImage(ctx);
    const k = spec.kernelSize;
    const outH = convOutput(h, k, spec.stride, spec.padding);
    const outW = convOutput(w, k, spec.stride, spec.padding);
    check(outH > 0 && outW > 0, () => `${ctx.where}: kernel ${k} with padding ${show(spec.padding)} does not fit input ${show(ctx.inputShape)}`);
    const fanIn = k * k * c;
    const params: Record<string, tf.Variable> = { weight: initVariable([k, k, c, spec.filters], fanIn, ctx.key(0), ctx.varName('weight')) };
    if (spec.bias) params['bias'] = initVariable([spec.filters], fanIn, ctx.key(1), ctx.varName('bias'));
    const coefficients = learnedCoefficients(ctx, spec.neuron, spec.learn, spec.filters, params);
    const conv = conv2dOp(spec.stride, spec.padding);
    // the patch vectors R acts on: a convolution with the identity kernel extracts them
    const patches = (x: tf.Tensor) =>
      tf.tidy(() => tf.reshape(conv(x as tf.Tensor4D, tf.reshape(tf.eye(fanIn), [k, k, c, fanIn]) as tf.Tensor4D), [-1, fanIn]));
    const decorrelation = spec.decorrelate
      ? { decorrelator: decorrelator(ctx, fanIn, spec.decorrelate, params, params['weight']!), vectors: patches, positions: outH * outW }
      : undefined;
    return affineLayer(
      ctx,
      { spec, neuron: spec.neuron, params, coefficients, learned: learnedNames(spec.learn) },
      [outH, outW, spec.filters],
      (x, kernel) => conv(x as tf.Tensor4D, kernel as tf.Tensor4D),
      (x, g) => conv2dFilterGradient(x as tf.Tensor4D, g as tf.Tensor4D, k, spec.stride, spec.padding),
      decorrelation,
    );
  },
  // NIR's Conv2d (PyTorch's [out, in, kh, kw] kernel, the same padding on both sides), then the neurons
  nir(layer, c) {
    const spec = layer.spec as Conv2dSpec;
    const [h, w, ch] = layer.inputShape as [number, number, number];
    const [rows, cols] = paddingOf(h, w, spec.kernelSize, spec.stride, spec.padding);
    if (rows[0] !== rows[1] || cols[0] !== cols[1]) {
      c.refuse(
        `its 'same' padding at stride ${spec.stride} on a ${h}×${w} input pads [${rows.join(', ')}] rows and [${cols.join(', ')}] columns, unevenly; NIR pads both sides alike: use padding 'valid' or a number`,
      );
    }
    const { weight, bias } = effectiveWeights(layer); // the kernel in NIR's (PyTorch's) [out, in, kh, kw]
    const k = spec.kernelSize,
      f = spec.filters;
    const conv = nirNode('Conv2d', {
      weight: floats([f, ch, k, k], weight),
      bias: floats([f], bias ?? new Float32Array(f)),
      stride: ints([spec.stride, spec.stride]),
      padding: ints([rows[0], cols[0]]),
      dilation: ints([1, 1]),
      groups: ints([1], true),
      input_shape: ints([h, w]),
    });
    return {
      chain: [
        ['weight', conv],
        ['neurons', c.neurons()],
      ],
    };
  },
} satisfies LayerKind<Conv2dSpec>;
