/**
 * Counter-stream uniforms as a tensor. LR draws one uniform per neuron-step and copy (K·B·N·T of
 * them a step: 13M at K = 8, B = 128, N = 512, T = 25); generating them in JavaScript and copying
 * them into the heap cost more than the network's arithmetic. On wasm the kernel registered here
 * writes them straight into the output tensor, four at a time (`assembly/random.ts`), bit for bit
 * the numbers of `random.ts`'s `word`; other backends get them from JavaScript.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const KERNEL = 'SpikelrUniforms';
let installed = false;

/** Registers the kernel for the wasm backend (idempotent). */
export function installUniformKernel(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(KERNEL, (args: KernelArgs) => {
    const { backend } = args;
    const { shape, keys, counter, per, antithetic } = args.attrs as { shape: number[]; keys: number[]; counter: number; per: number; antithetic: boolean };
    const kernels = kernelsFor(backend);
    const out = backend.makeOutput(shape, 'float32');
    const at = (k: number) => heapOffset(backend, out) + 4 * k * per;
    keys.forEach((key, k) => kernels.fillUniforms(at(k), per, key, counter));
    if (antithetic) keys.forEach((_, k) => kernels.mirror(at(k + keys.length), at(k), per));
    return out;
  });
}

/**
 * `[…shape]` float32: block k (of `per` elements) holds stream `keys[k]` from `counter`; with
 * `antithetic`, blocks keys.length + k hold 1 − block k. Undefined where no kernel serves the
 * active backend (the caller generates them in JavaScript).
 */
export function streamUniforms(shape: number[], keys: readonly number[], counter: number, per: number, antithetic: boolean): tf.Tensor | undefined {
  if (!installed || tf.getBackend() !== 'wasm') return undefined;
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== per * keys.length * (antithetic ? 2 : 1))
    throw new Error(`streamUniforms: shape [${shape}] does not hold ${keys.length} blocks of ${per}${antithetic ? ' and their mirrors' : ''}`);
  return tf.engine().runKernel(KERNEL, {}, { shape, keys: [...keys], counter, per, antithetic }) as tf.Tensor;
}
