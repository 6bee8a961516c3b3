/**
 * Adam's step for one parameter tensor as one wasm kernel (`assembly/adam.ts`) instead of twelve
 * tensor ops: the optimizer reads and writes each parameter and its two moments once. The results
 * are the separate ops' to the bit (test/optim.test.ts), so a run is the same with or without it.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsActive } from './noisy-lif-kernel.js';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const KERNEL = 'SpikelrAdam';
let installed = false;

/** Registers the kernel for the wasm backend (idempotent). */
export function installAdamKernel(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(KERNEL, ({ inputs, backend, attrs }: KernelArgs) => {
    const { theta, m, s, g } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as { beta1: number; oneMinusBeta1: number; beta2: number; oneMinusBeta2: number; rate: number; c2: number; epsilon: number };
    const outs = [0, 1, 2].map(() => backend.makeOutput(theta!.shape, 'float32'));
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    kernelsFor(backend).adam(
      at(theta!),
      at(m!),
      at(s!),
      at(g!),
      theta!.shape.reduce((x, y) => x * y, 1),
      a.beta1,
      a.oneMinusBeta1,
      a.beta2,
      a.oneMinusBeta2,
      a.rate,
      a.c2,
      a.epsilon,
      at(outs[0]!),
      at(outs[1]!),
      at(outs[2]!),
    );
    return outs;
  });
}

/**
 * θ', m', s' of one Adam step (`rate` = η/c₁, `c2` = 1 − β₂ᵗ), or undefined where the kernel does
 * not run (another backend, fused kernels off, not float32).
 */
export function adamStep(
  theta: tf.Tensor,
  m: tf.Tensor,
  s: tf.Tensor,
  g: tf.Tensor,
  c: { readonly beta1: number; readonly beta2: number; readonly rate: number; readonly c2: number; readonly epsilon: number },
): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined {
  if (!installed || !fusedKernelsActive() || [theta, m, s, g].some((t) => t.dtype !== 'float32') || g.size !== theta.size) return undefined;
  return tf.engine().runKernel(
    KERNEL,
    { theta, m, s, g },
    {
      beta1: c.beta1,
      oneMinusBeta1: 1 - c.beta1,
      beta2: c.beta2,
      oneMinusBeta2: 1 - c.beta2,
      rate: c.rate,
      c2: c.c2,
      epsilon: c.epsilon,
    },
  ) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
