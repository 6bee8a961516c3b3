/**
 * A recurrent LIF population's whole time loop as one differentiable op for surrogate-gradient
 * BPTT (snnTorch's `RLeaky`): the current of step t is `currents[t] + s_{t−1} V`. Autodiff of the
 * unrolled steps puts ~15 kernels a step on the tape, each with its saved copies and its own
 * backward kernels; here the forward loop runs untaped — on the wasm backend as one kernel
 * (recurrent-loops.ts; the event-driven product's arithmetic, so the same spikes and membranes to
 * the bit as the separate ops wherever their product is event-driven too) — the tape holds one
 * node, and the backward pass is the reverse recursion written out (on wasm, one dense product and
 * one fused kernel a step, a known surrogate's slope computed in it):
 *
 *   b_t = g_t + a_{t+1} Vᵀ − [reset] ∂u_{t+1}/∂s_t a_{t+1},    a_t = σ'(u_t − ϑ) b_t + ∂u_{t+1}/∂u_t a_{t+1},
 *
 * with a_t = ∂L/∂u_t (the current's gradient), b_t = ∂L/∂s_t, ∂u_{t+1}/∂u_t = β (β(1 − s_t) for a
 * zero reset), the reset's term −ϑ (−β u_t for a zero reset) dropped with `detachReset`, and
 * ∂L/∂V = Σ_t s_{t−1}ᵀ a_t as one product over all steps. The recurrent input keeps its gradient
 * either way, as in the unrolled loop. On two threads the helper runs half the batch's rows through
 * both loops (recurrent-loops.ts, product-threads.ts' splitRows): one hand-over per loop, not one a
 * step, so V stays put for all T steps.
 *
 * With `recurrentHops` h the gradient crosses V at most h times: the recursion above without its
 * a_{t+1} Vᵀ term gives the paths that never cross (each neuron's own leak and reset), and each of h
 * more passes adds one crossing, b_t = g_t + a⁽ⁱ⁻¹⁾_{t+1} Vᵀ — a truncated Neumann series of the exact
 * recursion, which it equals from h = T − 1 on (no path crosses more often than it has steps).
 */
import * as tf from '@tensorflow/tfjs';
import type { LifSequenceOptions } from './lif-sequence.js';
import {
  backwardList,
  backwardOperands,
  encodeParams,
  recurrentBackward,
  recurrentForward,
  recurrentKernelsActive,
  slopeCode,
  TASKS,
  type LoopParams,
  type RowSplitter,
} from './recurrent-loops.js';

/** Runs half a loop's rows on another thread where one is installed (Node's product-threads.ts' splitRows; none in a browser). */
let splitter: RowSplitter | undefined;
export function installRowSplitter(split: RowSplitter | undefined): void {
  splitter = split;
}

/** The spikes `[T, B, N]` of a recurrent LIF population from rest, driven by `currents` `[T, B, N]` and V `[N, N]`. */
export function lifRecurrentSequence(currents: tf.Tensor, recurrent: tf.Tensor, o: LifSequenceOptions & { readonly recurrentHops?: number }): tf.Tensor {
  const fused = recurrentKernelsActive();
  const p: LoopParams = {
    beta: o.beta,
    threshold: o.threshold,
    reset: o.reset,
    detachReset: o.detachReset === true,
    fused,
    ...(fused ? { slope: slopeCode(o.surrogate.form) } : {}),
  };
  const params = encodeParams(p);
  const op = tf.customGrad(((c: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const forward = (rows?: number) => {
      const r = recurrentForward(c, v, p, rows);
      return [r.membrane, r.spikes];
    };
    const [membrane, spiked] = (splitter?.(TASKS.recurrentForward, [c], v, 2, params, forward, tf) ?? forward()) as [tf.Tensor, tf.Tensor];
    save([membrane, spiked, v]);
    return {
      value: spiked,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [u, s, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          const steps = u.shape[0]!;
          // the fused loop computes a known surrogate's slope itself
          const slope = p.slope ? undefined : o.surrogate.derivative(tf.sub(u, o.threshold));
          // the adjoints a_t = ∂L/∂u_t from the spikes' upstream gradient, through `weight` between units
          const adjoints = (upstream: tf.Tensor, weight: tf.Tensor) => {
            const operands = backwardList({ ...(slope ? { slope } : {}), upstream, membrane: u, spikes: s }, p);
            const backward = (rows?: number) => [recurrentBackward(backwardOperands(operands, p), weight, p, rows)];
            return (splitter?.(TASKS.recurrentBackward, operands, weight, 1, params, backward, tf) ?? backward())[0]!;
          };
          const n = w.shape[0]!;
          const hops = o.recurrentHops;
          let a: tf.Tensor;
          if (hops === undefined) a = adjoints(dy, w);
          else {
            const none = tf.zerosLike(w);
            a = adjoints(dy, none);
            for (let h = 0; h < Math.min(hops, steps - 1); h++) {
              // one more crossing: what step t's spikes are worth through V to the adjoints of step t + 1
              const later = tf.concat([a.slice([1], [steps - 1]), tf.zerosLike(a.slice([0], [1]))]);
              a = adjoints(tf.add(dy, tf.reshape(tf.matMul(tf.reshape(later, [-1, n]), w, false, true), a.shape)), none);
            }
          }
          // ∂L/∂V = Σ_t s_{t−1}ᵀ a_t: the spikes shifted one step (none before the first) against the adjoints
          const previous = tf.concat([tf.zerosLike(s.slice([0], [1])), s.slice([0], [steps - 1])]);
          const dV = tf.matMul(tf.reshape(previous, [-1, n]), tf.reshape(a, [-1, n]), true, false);
          return [a, dV];
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (c: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return op(currents, recurrent);
}
