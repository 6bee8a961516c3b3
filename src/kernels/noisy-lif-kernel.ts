/**
 * A LIF step with logistic escape noise and its spike score as one wasm kernel, and one step of its
 * reverse filter as another (`assembly/lif.ts`). LR's forward pass spends most of its elementwise
 * time in the step, which as separate tensor ops reads and writes the `[K·B, N]` state about a
 * dozen times; the kernel reads the drive, the state and the uniforms once and writes the new
 * membrane, the spikes and the score. Its results are the separate ops' but for the firing
 * probability's exp (a polynomial within 2 ulp; test/noisy-lif-kernel.test.ts holds it to a float64
 * reference); the reverse-filter step's are theirs to the bit. They run where
 * {@link fusedKernelsActive} says so; other backends, and `useFusedKernels(false)`, run the
 * separate ops.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const KERNEL = 'SpikelrNoisyLif',
  ADJOINT = 'SpikelrLifAdjoint';
let installed = false;
let enabled = true;

/** Registers the kernel for the wasm backend (idempotent). */
export function installNoisyLifKernel(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(KERNEL, ({ inputs, backend, attrs }: KernelArgs) => {
    const { drive, membrane, spikes, uniforms } = inputs as Record<string, tf.TensorInfo>;
    const { beta, threshold, sigma, reset } = attrs as { beta: number; threshold: number; sigma: number; reset: number };
    const shape = membrane!.shape;
    const n = shape[shape.length - 1]!;
    const rows = shape.reduce((a, b) => a * b, 1) / n;
    // the score's output doubles as the kernel's scratch for the firing probability
    const outs = [0, 1, 2].map(() => backend.makeOutput(shape, 'float32'));
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    kernelsFor(backend).noisyLif(
      at(drive!),
      drive!.shape.reduce((a, b) => a * b, 1) / n,
      at(membrane!),
      at(spikes!),
      at(uniforms!),
      rows,
      n,
      beta,
      threshold,
      sigma,
      reset,
      at(outs[0]!),
      at(outs[1]!),
      at(outs[2]!),
    );
    return outs;
  });
  registerWasmKernel(ADJOINT, ({ inputs, backend, attrs }: KernelArgs) => {
    const { psi, weights, next } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { beta, inputRows } = attrs as { beta: number; inputRows: number };
    // a row is everything after the leading axis (a conv layer's [H, W, C] too)
    const rows = psi!.shape[0]!,
      n = psi!.shape.reduce((a, b) => a * b, 1) / rows;
    const lambda = backend.makeOutput(psi!.shape, 'float32'),
      contracted = backend.makeOutput([inputRows, ...psi!.shape.slice(1)], 'float32');
    const at = (t: tf.TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    kernelsFor(backend).lifAdjoint(at(psi), at(weights), at(next), beta, rows, n, inputRows, at(lambda), at(contracted));
    return [lambda, contracted];
  });
}

/**
 * One step of a LIF-family reverse filter (subtract or no reset) for LR, fused: λ = w ψ + β λ'
 * (`weights` [R] per row, absent: 1; `next` λ', absent at the last step) and the copies' sum
 * `[inputRows, …]` of λ — the separate ops' results to the bit.
 */
export function lifAdjointStep(
  psi: tf.Tensor,
  weights: tf.Tensor | undefined,
  next: tf.Tensor | undefined,
  beta: number,
  inputRows: number,
): { lambda: tf.Tensor; contracted: tf.Tensor } {
  checkActive('lifAdjointStep');
  const inputs: Record<string, tf.Tensor> = { psi, ...(weights ? { weights } : {}), ...(next ? { next } : {}) };
  const [lambda, contracted] = tf.engine().runKernel(ADJOINT, inputs, { beta, inputRows }) as tf.Tensor[];
  return { lambda: lambda!, contracted: contracted! };
}

/** Whether the fused kernels run (the wasm backend with them installed, not turned off); callers ask before using them. */
export function fusedKernelsActive(): boolean {
  return installed && enabled && tf.getBackend() === 'wasm';
}

function checkActive(who: string): void {
  if (!fusedKernelsActive()) throw new Error(`${who}: the fused kernels do not run here (another backend, or turned off); ask fusedKernelsActive() first`);
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
 * The fused step. `drive`
 * `[R', N]` with R' dividing the state's rows (row r takes drive row r mod R': the copies' shared
 * currents); `membrane`, `spikes`, `uniforms` of the state's shape `[…, N]`.
 */
export function noisyLifStep(
  drive: tf.Tensor,
  membrane: tf.Tensor,
  spikes: tf.Tensor,
  uniforms: tf.Tensor,
  o: { readonly beta: number; readonly threshold: number; readonly sigma: number; readonly reset: keyof typeof RESET_CODES; readonly score: boolean },
): NoisyLifStep {
  checkActive('noisyLifStep');
  const n = membrane.shape[membrane.rank - 1]!;
  if (drive.shape[drive.rank - 1] !== n || (membrane.size / n) % (drive.size / n) !== 0) {
    throw new Error(`noisyLifStep: a drive [${drive.shape}] cannot feed a state [${membrane.shape}] (its rows must divide the state's)`);
  }
  const out = tf
    .engine()
    .runKernel(
      KERNEL,
      { drive, membrane, spikes, uniforms },
      { beta: o.beta, threshold: o.threshold, sigma: o.sigma, reset: RESET_CODES[o.reset] },
    ) as tf.Tensor[];
  if (!o.score) out[2]!.dispose();
  return { membrane: out[0]!, spikes: out[1]!, ...(o.score ? { score: out[2]! } : {}) };
}
