/**
 * A LIF step with logistic escape noise and its spike score as one wasm kernel
 * (`assembly/lif.ts`): LR's forward pass spends most of its elementwise time in this step, which as
 * separate tensor ops reads and writes the `[K·B, N]` state about a dozen times. The kernel reads
 * the drive, the state and the uniforms once and writes the new membrane, the spikes and the score.
 * Its results are the separate ops' but for the firing probability's exp (a polynomial within
 * 2 ulp; test/noisy-lif-kernel.test.ts holds it to a float64 reference). Other backends, and
 * `useFusedKernels(false)`, run the separate ops.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, type KernelArgs } from './wasm-module.js';

const KERNEL = 'SpikelrNoisyLif';
let installed = false;
let enabled = true;

/** Registers the kernel for the wasm backend (idempotent). */
export function installNoisyLifKernel(): void {
  if (installed) return;
  installed = true;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { drive, membrane, spikes, uniforms } = inputs as Record<string, tf.TensorInfo>;
      const { beta, threshold, sigma, reset } = attrs as { beta: number; threshold: number; sigma: number; reset: number };
      const shape = membrane!.shape;
      const n = shape[shape.length - 1]!;
      const rows = shape.reduce((a, b) => a * b, 1) / n;
      // the score's output doubles as the kernel's scratch for the firing probability
      const outs = [0, 1, 2].map(() => backend.makeOutput(shape, 'float32'));
      const at = (t: tf.TensorInfo) => heapOffset(backend, t);
      kernelsFor(backend).noisyLif(
        at(drive!), drive!.shape.reduce((a, b) => a * b, 1) / n, at(membrane!), at(spikes!), at(uniforms!), rows, n,
        beta, threshold, sigma, reset, at(outs[0]!), at(outs[1]!), at(outs[2]!),
      );
      return outs;
    }) as unknown as tf.KernelFunc,
  });
}

/** Whether {@link noisyLifStep} runs (the wasm backend with the kernel installed, not turned off). */
export function fusedKernelsActive(): boolean {
  return installed && enabled && tf.getBackend() === 'wasm';
}

/** Turns the fused kernels on or off (on by default where installed; off: the separate ops, e.g. to compare). */
export function useFusedKernels(on: boolean): void {
  enabled = on;
}

export const RESET_CODES = { subtract: 0, zero: 1, none: 2 } as const;

export interface NoisyLifStep {
  readonly membrane: tf.Tensor;
  readonly spikes: tf.Tensor;
  /** (s − p)/σ, when asked for. */
  readonly score?: tf.Tensor;
}

/**
 * The fused step, or undefined where it does not run (another backend, the kernels off). `drive`
 * `[R', N]` with R' dividing the state's rows (row r takes drive row r mod R': the copies' shared
 * currents); `membrane`, `spikes`, `uniforms` of the state's shape `[…, N]`.
 */
export function noisyLifStep(
  drive: tf.Tensor, membrane: tf.Tensor, spikes: tf.Tensor, uniforms: tf.Tensor,
  o: { readonly beta: number; readonly threshold: number; readonly sigma: number; readonly reset: keyof typeof RESET_CODES; readonly score: boolean },
): NoisyLifStep | undefined {
  if (!fusedKernelsActive()) return undefined;
  const n = membrane.shape[membrane.rank - 1]!;
  if (drive.shape[drive.rank - 1] !== n || (membrane.size / n) % (drive.size / n) !== 0) {
    throw new Error(`noisyLifStep: a drive [${drive.shape}] cannot feed a state [${membrane.shape}] (its rows must divide the state's)`);
  }
  const out = tf.engine().runKernel(KERNEL, { drive, membrane, spikes, uniforms }, { beta: o.beta, threshold: o.threshold, sigma: o.sigma, reset: RESET_CODES[o.reset] }) as tf.Tensor[];
  if (!o.score) out[2]!.dispose();
  return { membrane: out[0]!, spikes: out[1]!, ...(o.score ? { score: out[2]! } : {}) };
}
