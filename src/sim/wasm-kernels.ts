/**
 * Faster Slice, Unpack and Sum kernels for tfjs-backend-wasm. The stock Slice and Unpack read the
 * whole input out of the wasm heap (`readSync` without a range) for every slice, so splitting a
 * `[T, …]` sequence into its T steps costs O(T² · size): at T = 25, B = 128, 1000 neurons that was
 * most of a simulation step. Tensors live in the heap, so a contiguous slice is one copy between
 * two views of it. Non-contiguous slices and unpacks along other axes keep the stock kernels.
 * The stock Sum transposes its input whenever the reduced axes are not the innermost; a sum over
 * leading axes (copies, steps, the batch) is a sum of contiguous rows (`assembly/reduce.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, overrideKernel, type WasmBackend } from './wasm-module.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Flat offset of a slice of `shape` at `begin` of `extent`, or −1 when it is not contiguous. */
function contiguousOffset(shape: readonly number[], begin: readonly number[], extent: readonly number[]): number {
  // contiguous when, after the first axis whose extent is below the full size, every axis is full
  // and every earlier axis but that one has extent 1
  let seenPartial = false;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (seenPartial && extent[i] !== 1) return -1;
    if (extent[i] !== shape[i]) seenPartial = true;
  }
  let offset = 0, stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    offset += begin[i]! * stride;
    stride *= shape[i]!;
  }
  return offset;
}

/** Copies `count` elements of `x` from `offset` into new outputs, one per entry (views taken after every allocation: a heap resize detaches them). */
function copyOut(backend: WasmBackend, x: tf.TensorInfo, parts: { shape: number[]; offset: number }[]): tf.TensorInfo[] {
  const outs = parts.map((p) => backend.makeOutput(p.shape, x.dtype));
  const source = backend.typedArrayFromHeap(x);
  outs.forEach((out, i) => {
    const { offset } = parts[i]!;
    (backend.typedArrayFromHeap(out) as Float32Array).set((source as Float32Array).subarray(offset, offset + size(out.shape)));
  });
  return outs;
}

let installed = false;

/** Registers the kernels for the wasm backend (idempotent; call after the backend is registered). */
export function installWasmKernels(): void {
  if (installed) return;
  installed = true;
  overrideKernel('Sum', (args, stock) => {
    const x = args.inputs['x']!;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(args.attrs['axis'] as number | number[], x.shape).sort((p, q) => p - q);
    // leading axes only (and not all of them): a sum of contiguous rows, no transpose
    const leading = axes.length < rank && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !leading || size(x.shape) === 0) return stock(args);
    const rows = size(x.shape.slice(0, axes.length)), rest = x.shape.slice(axes.length);
    const out = args.backend.makeOutput(args.attrs['keepDims'] ? [...axes.map(() => 1), ...rest] : rest, 'float32');
    kernelsFor(args.backend).sumRows(heapOffset(args.backend, x), rows, size(rest), heapOffset(args.backend, out));
    return out;
  });
  overrideKernel('Slice', (args, stock) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string') return stock(args);
    const [begin, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs['begin'] as number[], args.attrs['size'] as number[]) as [number[], number[]];
    const offset = contiguousOffset(x.shape, begin, extent);
    if (offset < 0) return stock(args);
    return copyOut(args.backend, x, [{ shape: extent, offset }])[0]!;
  });
  overrideKernel('Unpack', (args, stock) => {
    const x = args.inputs['value']!;
    const axis = (args.attrs['axis'] as number) < 0 ? (args.attrs['axis'] as number) + x.shape.length : (args.attrs['axis'] as number);
    // along the first axis (or after axes of size 1) every part is contiguous
    if (x.dtype === 'string' || x.shape.slice(0, axis).some((d) => d !== 1)) return stock(args);
    const shape = x.shape.filter((_, i) => i !== axis);
    const n = size(shape);
    return copyOut(args.backend, x, Array.from({ length: x.shape[axis]! }, (_, t) => ({ shape, offset: t * n })));
  });
}
