/**
 * Parameter layouts: spikelr's ([in, out]; a conv kernel [kh, kw, in, out]) and PyTorch's, which
 * model files of other tools and NIR use ([out, in]; [out, in, kh, kw]). A leaf module: the network
 * (setParameter) and the NIR writer both take the one axis order from here.
 */
import * as tf from '@tensorflow/tfjs';

/** How a parameter's values are laid out: spikelr's ([in, out]; a conv kernel [kh, kw, in, out]) or PyTorch's ([out, in]; [out, in, kh, kw]). */
export type ParameterLayout = 'spikelr' | 'torch';

/** Where PyTorch's axes come from in spikelr's, by rank: [out, in] from [in, out]; [out, in, kh, kw] from [kh, kw, in, out]. */
export const TORCH_AXES: Readonly<Record<number, readonly number[]>> = { 2: [1, 0], 4: [3, 2, 0, 1] };

/** PyTorch's shape of a parameter of spikelr shape `shape` (rank 2 or 4; another rank keeps its shape). */
export const torchShape = (shape: readonly number[]) => TORCH_AXES[shape.length]?.map((axis) => shape[axis]!) ?? [...shape];

/** A matrix or conv kernel in PyTorch's layout ([out, in]; [out, in, kh, kw]), from spikelr's; another rank as it is. */
export function toTorchLayout(t: tf.Tensor): tf.Tensor {
  const axes = TORCH_AXES[t.rank];
  return axes ? tf.transpose(t, [...axes]) : t.clone();
}

/** The permutation that takes a tensor in PyTorch's layout back to spikelr's (the inverse of TORCH_AXES). */
export function fromTorch(rank: number): number[] {
  const inverse = new Array<number>(rank);
  TORCH_AXES[rank]!.forEach((axis, i) => {
    inverse[axis] = i;
  });
  return inverse;
}
