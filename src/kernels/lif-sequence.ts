/**
 * A LIF population's whole time loop as one differentiable op for surrogate-gradient BPTT: one
 * wasm kernel runs the T steps forward (the separate ops' arithmetic, so the same spikes and
 * membranes to the bit), another runs the reverse recursion of the current's gradient. Autodiff
 * through the separate ops records ~15 kernels a step on its tape, each with its own pass over the
 * `[B, N]` state and its saved copies; here the tape holds one node, the membranes it saves and
 * the surrogate's derivative computed once over all T steps.
 *
 * The gradient is the one autodiff gives the separate ops: the reset's spike carries the
 * surrogate's derivative too, unless `detachReset` (snnTorch's `Leaky` detaches it).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsActive, RESET_CODES } from './noisy-lif-kernel.js';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const FORWARD = 'SpikelrLifSequence',
  BACKWARD = 'SpikelrLifSequenceGrad';
let installed = false;

/** Registers the two kernels for the wasm backend (idempotent). */
export function installLifSequenceKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(FORWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { currents } = inputs as Record<string, tf.TensorInfo>;
    const { beta, threshold, reset } = attrs as { beta: number; threshold: number; reset: number };
    const shape = currents!.shape,
      steps = shape[0]!;
    const outs = [0, 1].map(() => backend.makeOutput(shape, 'float32'));
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    kernelsFor(backend).lifSequence(at(currents!), steps, shape.reduce((a, b) => a * b, 1) / steps, beta, threshold, reset, at(outs[0]!), at(outs[1]!));
    return outs;
  });
  registerWasmKernel(BACKWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { slope, upstream, spikes, membrane } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { beta, threshold, reset, detach, kind, c, a } = attrs as {
      beta: number;
      threshold: number;
      reset: number;
      detach: number;
      kind: number;
      c: number;
      a: number;
    };
    const shape = membrane!.shape,
      steps = shape[0]!;
    const out = backend.makeOutput(shape, 'float32');
    const at = (t: tf.TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    kernelsFor(backend).lifSequenceAdjoint(
      at(slope),
      kind,
      c,
      a,
      at(upstream),
      at(spikes),
      at(membrane),
      steps,
      shape.reduce((x, y) => x * y, 1) / steps,
      beta,
      threshold,
      reset,
      detach,
      at(out),
    );
    return out;
  });
}

/**
 * A derivative kernels compute with the same float32 operations as `derivative`: atan
 * a/(1 + (c x)²), fast sigmoid 1/(1 + c|x|)², triangular max(0, 1 − |x|/c)/c, straight-through 1.
 */
export interface SurrogateForm {
  readonly kind: 'atan' | 'fast-sigmoid' | 'triangular' | 'straight-through';
  readonly c: number;
  readonly a: number;
}

/** The kernel's codes of the surrogate forms it computes itself (0: the derivative is given). */
export const FORMS = { atan: 1, 'fast-sigmoid': 2, triangular: 3, 'straight-through': 4 } as const;

export interface LifSequenceOptions {
  readonly beta: number;
  readonly threshold: number;
  readonly reset: keyof typeof RESET_CODES;
  /** The spike's surrogate: the kernel computes a known form's derivative itself, calls `derivative` otherwise. */
  readonly surrogate: { readonly form?: SurrogateForm; derivative(x: tf.Tensor): tf.Tensor };
  /** No gradient through the reset's spike (snnTorch's `Leaky`); default false, as autodiff of the separate ops. */
  readonly detachReset?: boolean;
}

/** Whether {@link lifSequence} runs here (the wasm backend with spikelr's kernels). */
export function lifSequenceActive(): boolean {
  return installed && fusedKernelsActive();
}

/**
 * The spikes `[T, …]` of a LIF population driven by `currents` `[T, …]` from rest, differentiable
 * with respect to the currents by the surrogate's derivative.
 */
export function lifSequence(currents: tf.Tensor, o: LifSequenceOptions): tf.Tensor {
  if (!lifSequenceActive()) throw new Error('lifSequence: the fused kernels do not run here (another backend, or turned off); ask lifSequenceActive() first');
  const reset = RESET_CODES[o.reset];
  const zeroReset = o.reset === 'zero';
  const attrs = { beta: o.beta, threshold: o.threshold, reset };
  const form = o.surrogate.form;
  const backwardAttrs = { kind: form ? FORMS[form.kind] : 0, c: form?.c ?? 0, a: form?.a ?? 0, detach: o.detachReset ? 1 : 0 };
  const op = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const [membrane, spikes] = tf.engine().runKernel(FORWARD, { currents: x }, attrs) as tf.Tensor[];
    // the backward pass reads the membranes (the surrogate's argument), and the spikes only for a zero reset
    save(zeroReset ? [membrane!, spikes!] : [membrane!]);
    return {
      value: spikes!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const slope = form ? undefined : o.surrogate.derivative(tf.sub(saved[0]!, o.threshold));
          const inputs: Record<string, tf.Tensor> = {
            upstream: dy,
            membrane: saved[0]!,
            ...(slope ? { slope } : {}),
            ...(zeroReset ? { spikes: saved[1]! } : {}),
          };
          return tf.engine().runKernel(BACKWARD, inputs, { ...attrs, ...backwardAttrs }) as tf.Tensor;
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(currents);
}
