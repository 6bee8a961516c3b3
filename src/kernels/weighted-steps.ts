/**
 * Σ_t w_t x_t over the leading (time) axis of `x` `[T, …]`, differentiable — a readout's
 * time-weighted input (loop.ts `meanReadout`). On wasm one pass over x (`assembly/reduce.ts`); the
 * stock product `[1, T] · [T, M]` with M in the hundreds of thousands costs ten times as much there.
 * Elsewhere it is that product.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsActive } from './noisy-lif-kernel.js';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs, type WasmBackend } from './wasm-module.js';

const FORWARD = 'SpikelrWeightedSteps',
  BACKWARD = 'SpikelrSpreadSteps';
let installed = false;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The weights in the heap for the duration of `f`. */
function withWeights<T>(backend: WasmBackend, weights: readonly number[], f: (at: number) => T): T {
  const held = backend.makeOutput([weights.length], 'float32');
  try {
    // the view after the allocation (a heap resize detaches earlier ones)
    (backend.typedArrayFromHeap(held) as Float32Array).set(weights);
    return f(heapOffset(backend, held));
  } finally {
    backend.disposeData(held.dataId);
  }
}

/** Registers the two kernels for the wasm backend (idempotent). */
export function installWeightedStepsKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(FORWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { x, into } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { weights } = attrs as { weights: number[] };
    const out = backend.makeOutput(x!.shape.slice(1), 'float32');
    if (into) (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(into) as Float32Array);
    withWeights(backend, weights, (w) =>
      kernelsFor(backend).weightedRows(heapOffset(backend, x!), weights.length, size(x!.shape) / weights.length, w, heapOffset(backend, out), into ? 1 : 0),
    );
    return out;
  });
  registerWasmKernel(BACKWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { g } = inputs as Record<string, tf.TensorInfo>;
    const { weights } = attrs as { weights: number[] };
    const out = backend.makeOutput([weights.length, ...g!.shape], 'float32');
    withWeights(backend, weights, (w) => kernelsFor(backend).spreadRows(heapOffset(backend, g!), weights.length, size(g!.shape), w, heapOffset(backend, out)));
    return out;
  });
}

/**
 * Σ_t w_t x_t `[…]` of `x` `[T, …]`, `weights` the T w_t; differentiable with respect to x.
 * `into`: the sum continued from it (a previous call's over the steps before; on wasm the bits of one
 * call over all the steps), not differentiable.
 */
export function weightedSteps(x: tf.Tensor, weights: readonly number[], into?: tf.Tensor): tf.Tensor {
  const steps = x.shape[0]!;
  if (weights.length !== steps) throw new Error(`weightedSteps: ${weights.length} weights for ${steps} steps`);
  const w = Array.from(weights, Math.fround);
  if (!installed || !fusedKernelsActive()) {
    return tf.tidy(() => {
      const sum = tf.reshape(tf.matMul(tf.tensor2d(w, [1, steps]), tf.reshape(x, [steps, -1])), x.shape.slice(1));
      return into ? tf.add(into, sum) : sum;
    });
  }
  if (into) return tf.engine().runKernel(FORWARD, { x, into }, { weights: w }) as tf.Tensor;
  const op = tf.customGrad(((input: tf.Tensor) => ({
    value: tf.engine().runKernel(FORWARD, { x: input }, { weights: w }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(BACKWARD, { g: dy }, { weights: w }) as tf.Tensor,
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}

/** The mean over the leading (time) axis of `x` `[T, …]`, differentiable, in one pass over it (the stock mean transposes all of x first). */
export function timeMean(x: tf.Tensor): tf.Tensor {
  const T = x.shape[0]!;
  return tf.tidy(() => tf.reshape(weightedSteps(tf.reshape(x, [T, -1]), new Array<number>(T).fill(1 / T)), x.shape.slice(1)));
}
