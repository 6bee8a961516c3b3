/**
 * The two time loops of a recurrent LIF population (lif-recurrent-sequence.ts), as plain tensor
 * code with no tape: the forward recursion from rest and the backward recursion of its adjoint.
 * Rows of the batch never meet in either loop, so a helper thread can run one half of the rows
 * while the calling thread runs the other (product-threads.ts), each row by the same ops — the
 * same bits — as a one-thread loop.
 */
import * as tf from '@tensorflow/tfjs';
import type { RESET_CODES } from './noisy-lif-kernel.js';

/** What a helper thread runs: half a product, or half the rows of one of these loops. */
export const TASKS = { product: 0, recurrentForward: 1, recurrentBackward: 2 } as const;

/**
 * Runs `task` on the bottom half of the rows (axis 1) of `rows` elsewhere while `local` runs the top
 * half here, and joins the `outputs`; undefined where it stays on one thread (product-threads.ts).
 */
export type RowSplitter = (
  task: number,
  rows: readonly tf.Tensor[],
  v: tf.Tensor,
  outputs: number,
  params: { readonly ints: readonly number[]; readonly floats: readonly number[] },
  local: (top: tf.Tensor[]) => tf.Tensor[],
  tfl: typeof tf,
) => tf.Tensor[] | undefined;

export interface LoopParams {
  readonly beta: number;
  readonly threshold: number;
  /** How a spike resets the membrane: subtract ϑ, to zero, or not at all (RESET_CODES, as the fused kernels take it). */
  readonly reset: keyof typeof RESET_CODES;
  /** The backward loop drops the reset's term (the neuron's own update takes s_{t−1} as a constant). */
  readonly detachReset?: boolean;
}

/** Membranes and spikes `[T, B, N]` from rest, driven by `drives` `[T, B, N]` plus s_{t−1} V. */
export function recurrentForward(drives: tf.Tensor, v: tf.Tensor, p: LoopParams): { membrane: tf.Tensor; spikes: tf.Tensor } {
  const { beta, threshold, reset } = p;
  const steps = tf.unstack(drives);
  const membranes: tf.Tensor[] = [],
    spikes: tf.Tensor[] = [];
  for (const [t, drive] of steps.entries()) {
    const [u, s] = tf.tidy(() => {
      if (t === 0) {
        const u0 = tf.add(tf.mul(beta, tf.zerosLike(drive)), drive);
        return [u0, tf.step(tf.sub(u0, threshold))];
      }
      const uPrev = membranes[t - 1]!,
        sPrev = spikes[t - 1]!;
      const input = tf.add(drive, tf.matMul(sPrev, v));
      // integrateAndFire's arithmetic, op for op
      const u =
        reset === 'subtract'
          ? tf.sub(tf.add(tf.mul(beta, uPrev), input), tf.mul(threshold, sPrev))
          : reset === 'zero'
            ? tf.add(tf.mul(tf.mul(beta, tf.sub(1, sPrev)), uPrev), input)
            : tf.add(tf.mul(beta, uPrev), input);
      return [u, tf.step(tf.sub(u, threshold))];
    });
    membranes.push(u!);
    spikes.push(s!);
  }
  tf.dispose(steps);
  const out = { membrane: tf.stack(membranes), spikes: tf.stack(spikes) };
  tf.dispose([...membranes, ...spikes]);
  return out;
}

/**
 * The current's adjoint a `[T, B, N]` from the surrogate's slope σ'(u_t − ϑ), the upstream gradient
 * g of the spikes, the membranes u and spikes s (all `[T, B, N]`) and V:
 * b_t = g_t + a_{t+1} Vᵀ − [reset] ∂u_{t+1}/∂s_t a_{t+1},  a_t = σ'_t b_t + ∂u_{t+1}/∂u_t a_{t+1}.
 */
export function recurrentBackward(slope: tf.Tensor, upstream: tf.Tensor, u: tf.Tensor, s: tf.Tensor, v: tf.Tensor, p: LoopParams): tf.Tensor {
  const { beta, threshold, reset } = p;
  return tf.tidy(() => {
    const steps = u.shape[0]!;
    const slopes = tf.unstack(slope),
      gs = tf.unstack(upstream),
      us = tf.unstack(u),
      ss = tf.unstack(s);
    const vT = tf.transpose(v);
    const adjoint: tf.Tensor[] = new Array(steps);
    for (let t = steps - 1; t >= 0; t--) {
      const next = adjoint[t + 1];
      adjoint[t] = tf.tidy(() => {
        if (!next) return tf.mul(slopes[t]!, gs[t]!);
        let b = tf.add(gs[t]!, tf.matMul(next, vT));
        if (!p.detachReset && reset === 'subtract') b = tf.sub(b, tf.mul(threshold, next));
        if (!p.detachReset && reset === 'zero') b = tf.sub(b, tf.mul(tf.mul(beta, us[t]!), next));
        const carry = reset === 'zero' ? tf.mul(tf.mul(beta, tf.sub(1, ss[t]!)), next) : tf.mul(beta, next);
        return tf.add(tf.mul(slopes[t]!, b), carry);
      });
    }
    return tf.stack(adjoint);
  });
}
