/**
 * What a layer kind provides to be written as NIR (`LayerKind.nir`), what the exporter gives it, and
 * the building blocks of its nodes. A kind without a mapping is refused by name; neuron models write
 * their own nodes (neurons/nir.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Layer } from './types.js';
import { toTorchLayout } from '../layout.js';
import { floats, nirNode, type NirNode, type NirValue } from '../../neurons/nir.js';

/** NIR's [C, H, W] of spikelr's [H, W, C]; a vector stays as it is. */
export function nirShape(shape: readonly number[]): number[] {
  return shape.length === 3 ? [shape[2]!, shape[0]!, shape[1]!] : [...shape];
}

/** spikelr's flat index (h, w, c order) of each flat index in NIR's (c, h, w) order, for an [H, W, C] image. */
export function chwOrder(h: number, w: number, c: number): Int32Array {
  const order = new Int32Array(h * w * c);
  for (let ci = 0; ci < c; ci++) for (let hi = 0; hi < h; hi++) for (let wi = 0; wi < w; wi++) order[(ci * h + hi) * w + wi] = (hi * w + wi) * c + ci;
  return order;
}

/** An Affine node (Linear without bias) of weight `w` [out, in] (PyTorch's layout, NIR's) with its columns read in NIR's input `order`. */
export function affineNode(w: Float32Array, inputs: number, outputs: number, bias: Float32Array | undefined, order?: Int32Array): NirNode {
  const weight = order ? Float64Array.from({ length: outputs * inputs }, (_, i) => w[i - (i % inputs) + order[i % inputs]!]!) : w;
  const fields: Record<string, NirValue> = { weight: floats([outputs, inputs], weight) };
  if (bias) fields['bias'] = floats([outputs], bias);
  return nirNode(bias ? 'Affine' : 'Linear', fields);
}

/** A parameter's values in PyTorch's layout, NIR's: a matrix [out, in], a conv kernel [out, in, kh, kw]. */
export const torchValues = (t: tf.Tensor): Float32Array => tf.tidy(() => toTorchLayout(t).dataSync() as Float32Array);

/** The weight (in NIR's layout) and bias a layer applies, after its input decorrelation (A = Rᵀ W, bias b − μ A). */
export function effectiveWeights(layer: Layer): { weight: Float32Array; bias: Float32Array | undefined } {
  return tf.tidy(() => {
    const w = layer.params['weight']!;
    const d = layer.decorrelation;
    const weight = d ? d.fuse(w) : w;
    const offset = d?.offset(weight);
    const b = layer.params['bias'];
    const bias = b && offset ? tf.add(b, offset) : (b ?? offset);
    return { weight: torchValues(weight), bias: bias?.dataSync() as Float32Array | undefined };
  });
}

/** The dense-layer pair: its weight node and its neuron node. */
export function affineExport(
  layer: Layer,
  neurons: () => NirNode,
  inputOrder: Int32Array | undefined,
): [readonly [string, NirNode], readonly [string, NirNode]] {
  const { weight, bias } = effectiveWeights(layer);
  return [
    ['weight', affineNode(weight, layer.inputShape[0]!, layer.outputShape[0]!, bias, inputOrder)],
    ['neurons', neurons()],
  ];
}
