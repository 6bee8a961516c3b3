/**
 * One step of unit credit taken step by step (src/learning/unit-credit.ts `creditSteps`) as one
 * wasm kernel (`assembly/credit.ts`) instead of five tensor ops: the running sum r = sum + a·s, and
 * the step's weights factor ⊙ (r − r̄′), r̄′ the other groups' mean — times the step's scores where
 * given. The separate ops' result up to the rounding of that mean (tested).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsActive } from './noisy-lif-kernel.js';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const KERNEL = 'SpikelrCreditStep';
let installed = false;

/** Registers the kernel for the wasm backend (idempotent). */
export function installCreditKernel(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(KERNEL, ({ inputs, backend, attrs }: KernelArgs) => {
    const { sum, s, factor, seed } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { a, groups } = attrs as { a: number; groups: number[] };
    const K = groups.length;
    const G = Math.max(...groups) + 1;
    const sizes = new Array<number>(G).fill(0);
    for (const g of groups) sizes[g]!++;
    const cols = s!.shape.reduce((x, y) => x * y, 1) / K;
    const outSum = backend.makeOutput(s!.shape, 'float32'),
      out = backend.makeOutput(s!.shape, 'float32');
    const held = [
      backend.makeOutput([K], 'int32'),
      backend.makeOutput([G], 'float32'),
      backend.makeOutput([(G + 1) * Math.min(256, cols)], 'float32'),
    ] as const;
    try {
      // the views after every allocation (a heap resize detaches earlier ones)
      (backend.typedArrayFromHeap(held[0]) as Int32Array).set(groups);
      (backend.typedArrayFromHeap(held[1]) as Float32Array).set(sizes.map((n) => 1 / (K - n)));
      const at = (t: tf.TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
      kernelsFor(backend).creditStep(at(sum), at(s), a, at(factor), at(held[0]), at(held[1]), G, at(held[2]), at(seed), K, cols, at(outSum), at(out));
    } finally {
      for (const h of held) backend.disposeData(h.dataId);
    }
    return [outSum, out];
  });
}

/**
 * [r, w] with r = sum + a·s and w = factor ⊙ (r − r̄_{−g}) (⊙ seed where given): every tensor `[K·…]`
 * copy-major, copy k in group `groups[k]` and r̄_{−g} the mean of r over the copies outside k's
 * group; undefined where the kernel does not run (another backend, fused kernels off).
 */
export function creditStep(
  sum: tf.Tensor | undefined,
  s: tf.Tensor,
  a: number,
  factor: tf.Tensor,
  groups: Int32Array,
  seed?: tf.Tensor,
): [tf.Tensor, tf.Tensor] | undefined {
  if (!installed || !fusedKernelsActive() || s.dtype !== 'float32') return undefined;
  const inputs: Record<string, tf.Tensor> = { s, factor, ...(sum ? { sum } : {}), ...(seed ? { seed } : {}) };
  return tf.engine().runKernel(KERNEL, inputs, { a: Math.fround(a), groups: Array.from(groups) }) as unknown as [tf.Tensor, tf.Tensor];
}
