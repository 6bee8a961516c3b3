/**
 * Faster Slice, Unpack, Sum, Identity and Cast kernels for tfjs-backend-wasm. The stock Slice and Unpack read the
 * whole input out of the wasm heap (`readSync` without a range) for every slice, so splitting a
 * `[T, …]` sequence into its T steps costs O(T² · size): at T = 25, B = 128, 1000 neurons that was
 * most of a simulation step. Tensors live in the heap, so a contiguous slice is one copy between
 * two views of it, and a strided slice a run of such copies. Unpacks along other axes keep the stock kernel.
 * The stock Sum transposes its input whenever the reduced axes are not the innermost; a sum over
 * leading axes (copies, steps, the batch) is a sum of contiguous rows (`assembly/reduce.ts`).
 * The stock Tile (which broadcastTo also runs) computes every output element's source index on its
 * own: ~100 ms to repeat a batch of 100 MNIST digits over 10 steps, more than the step's matrix
 * products. Tiling is block copies: each input row once, then whole blocks doubled in place.
 * The stock comparisons, logical ops, maximum/minimum, pow, mod, floorDiv and atan2 take the same
 * per-element path whenever their operands broadcast — 20–30× their time on equal shapes (a rate
 * encoding's `less(uniforms [B, T, N], p [B, 1, N])` was half of a BPTT training step) — so a
 * broadcast operand is first repeated to the output's shape by the Tile above.
 * The stock Identity copies its input, and tfjs clones every tensor it saves for a backward pass;
 * tensors are immutable, so Identity and a cast to the same type share the data instead, as the cpu
 * backend's kernels do. The stock Cast to bool copied values into bytes (an int32 2 became a bool 2).
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, overrideKernel, type WasmBackend } from './wasm-module.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

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

/**
 * `x` (`shape`) repeated `reps` times along each axis into `out`: the innermost axis's rows are
 * copied, and each finished block is repeated with copyWithin, from the innermost axis outwards.
 */
export function tileInto<A extends Float32Array | Int32Array | Uint8Array>(x: A, shape: readonly number[], reps: readonly number[], out: A): void {
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]!);
  // element counts of one index of each axis, in the input and the output
  const inInner = new Array<number>(rank + 1).fill(1),
    outInner = new Array<number>(rank + 1).fill(1);
  for (let i = rank - 1; i >= 0; i--) {
    inInner[i] = inInner[i + 1]! * shape[i]!;
    outInner[i] = outInner[i + 1]! * outShape[i]!;
  }
  const fill = (axis: number, from: number, to: number): void => {
    const block = shape[axis]! * outInner[axis + 1]!;
    if (axis === rank - 1) out.set(x.subarray(from, from + shape[axis]!), to);
    else for (let i = 0; i < shape[axis]!; i++) fill(axis + 1, from + i * inInner[axis + 1]!, to + i * outInner[axis + 1]!);
    for (let r = 1; r < reps[axis]!; r++) out.copyWithin(to + r * block, to, to + block);
  };
  if (rank === 0) out[0] = x[0]!;
  else if (inInner[0]! > 0) fill(0, 0, 0);
}

/**
 * The slice of `x` (`shape`) at `begin` of `extent` into `out`, as runs of contiguous elements: the
 * innermost axes taken whole, with the first partial one before them, make one run; the axes outside
 * it are walked like an odometer.
 */
export function sliceInto<A extends Float32Array | Int32Array | Uint8Array>(
  x: A,
  shape: readonly number[],
  begin: readonly number[],
  extent: readonly number[],
  out: A,
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  // axes k… form one run: every axis after k is whole
  let k = rank - 1;
  while (k > 0 && extent[k] === shape[k]) k--;
  const run = extent.slice(k).reduce((p, q) => p * q, 1);
  if (run === 0) return;
  const index = begin.slice(0, k);
  const total = out.length / run;
  for (let n = 0; n < total; n++) {
    let from = begin[k]! * strides[k]!;
    for (let i = 0; i < k; i++) from += index[i]! * strides[i]!;
    out.set(x.subarray(from, from + run), n * run);
    for (let i = k - 1; i >= 0; i--) {
      if (++index[i]! < begin[i]! + extent[i]!) break;
      index[i] = begin[i]!;
    }
  }
}

/** Binary kernels whose stock wasm versions are slow when the operands broadcast (add, sub, mul, div are not). */
const SLOW_BROADCAST = [
  'Less',
  'LessEqual',
  'Greater',
  'GreaterEqual',
  'Equal',
  'NotEqual',
  'LogicalAnd',
  'LogicalOr',
  'Maximum',
  'Minimum',
  'Pow',
  'FloorDiv',
  'Mod',
  'Atan2',
];

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
    const rows = size(x.shape.slice(0, axes.length)),
      rest = x.shape.slice(axes.length);
    const out = args.backend.makeOutput(args.attrs['keepDims'] ? [...axes.map(() => 1), ...rest] : rest, 'float32');
    kernelsFor(args.backend).sumRows(heapOffset(args.backend, x), rows, size(rest), heapOffset(args.backend, out));
    return out;
  });
  // Identity (and a cast to the same type) share the input's data, as the cpu backend's do: tensors
  // are immutable, and the stock kernel copies — every tensor tfjs saves for a backward pass is such
  // a clone, megabytes a BPTT step (5 ms of rbptt-h512's ~97)
  const shared = (backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo => {
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  overrideKernel('Identity', (args, stock) => {
    const x = args.inputs['x']!;
    return x.dtype === 'string' ? stock(args) : shared(args.backend, x);
  });
  overrideKernel('Cast', (args, stock) => {
    const x = args.inputs['x']!;
    const dtype = args.attrs['dtype'] as tf.DataType;
    if (x.dtype === 'string' || dtype === 'string') return stock(args);
    if (dtype === x.dtype) return shared(args.backend, x);
    if (dtype !== 'bool') return stock(args);
    // the stock kernel copies the values into the bytes (int32 2 became bool 2); a bool is x ≠ 0
    const out = args.backend.makeOutput(x.shape, 'bool');
    const from = args.backend.typedArrayFromHeap(x),
      to = args.backend.typedArrayFromHeap(out);
    for (let i = 0; i < to.length; i++) to[i] = from[i] !== 0 ? 1 : 0;
    return out;
  });
  overrideKernel('Fill', (args, stock) => {
    const { shape, value, dtype } = args.attrs as { shape: number[]; value: number | string; dtype: tf.DataType };
    if (value !== 0 || dtype === 'string') return stock(args);
    // zeros (a neuron population's resting state, megabytes a step for LR's K·B rows) by memset
    const out = args.backend.makeOutput(shape, dtype);
    kernelsFor(args.backend).zero(heapOffset(args.backend, out), size(shape) * (dtype === 'bool' ? 1 : 4));
    return out;
  });
  overrideKernel('Tile', (args, stock) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string') return stock(args);
    const reps = args.attrs['reps'] as number[];
    const out = args.backend.makeOutput(
      x.shape.map((d, i) => d * reps[i]!),
      x.dtype,
    );
    // views after the allocation (a heap resize detaches earlier ones)
    tileInto(args.backend.typedArrayFromHeap(x), x.shape, reps, args.backend.typedArrayFromHeap(out));
    return out;
  });
  for (const name of SLOW_BROADCAST) {
    overrideKernel(name, (args, stock) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype === 'string' || b.dtype === 'string') return stock(args);
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const same = (s: readonly number[]) => s.length === shape.length && s.every((d, i) => d === shape[i]);
      if ((same(a.shape) && same(b.shape)) || size(shape) === 0) return stock(args);
      const temporaries: tf.TensorInfo[] = [];
      const expand = (x: tf.TensorInfo): tf.TensorInfo => {
        if (same(x.shape)) return x;
        const padded = [...new Array<number>(shape.length - x.shape.length).fill(1), ...x.shape];
        const out = args.backend.makeOutput(shape, x.dtype);
        temporaries.push(out);
        tileInto(
          args.backend.typedArrayFromHeap(x),
          padded,
          shape.map((d, i) => d / padded[i]!),
          args.backend.typedArrayFromHeap(out),
        );
        return out;
      };
      try {
        return stock({ ...args, inputs: { a: expand(a), b: expand(b) } });
      } finally {
        for (const t of temporaries) args.backend.disposeData(t.dataId);
      }
    });
  }
  overrideKernel('Slice', (args, stock) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string' || x.shape.length === 0) return stock(args);
    const [begin, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs['begin'] as number[], args.attrs['size'] as number[]) as [
      number[],
      number[],
    ];
    // runs of contiguous elements: one for a contiguous slice (a step of a [T, …] sequence), B for
    // a strided one (a step of a [B, T, …] batch)
    const out = args.backend.makeOutput(extent, x.dtype);
    sliceInto(args.backend.typedArrayFromHeap(x), x.shape, begin, extent, args.backend.typedArrayFromHeap(out));
    return out;
  });
  overrideKernel('Unpack', (args, stock) => {
    const x = args.inputs['value']!;
    const axis = (args.attrs['axis'] as number) < 0 ? (args.attrs['axis'] as number) + x.shape.length : (args.attrs['axis'] as number);
    // along the first axis (or after axes of size 1) every part is contiguous
    if (x.dtype === 'string' || x.shape.slice(0, axis).some((d) => d !== 1)) return stock(args);
    const shape = x.shape.filter((_, i) => i !== axis);
    const n = size(shape);
    return copyOut(
      args.backend,
      x,
      Array.from({ length: x.shape[axis]! }, (_, t) => ({ shape, offset: t * n })),
    );
  });
}
