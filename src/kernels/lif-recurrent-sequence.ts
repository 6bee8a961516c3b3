/**
 * A recurrent LIF population's whole time loop as one differentiable op for surrogate-gradient
 * BPTT (snnTorch's `RLeaky`): the current of step t is `currents[t] + s_{t−1} V`. Autodiff of the
 * unrolled steps puts ~15 kernels a step on the tape, each with its saved copies and its own
 * backward kernels; here the forward loop runs untaped (the separate ops' arithmetic, so the same
 * spikes and membranes to the bit), the tape holds one node, and the backward pass is the reverse
 * recursion written out:
 *
 *   b_t = g_t + a_{t+1} Vᵀ − [reset] ∂u_{t+1}/∂s_t a_{t+1},    a_t = σ'(u_t − ϑ) b_t + ∂u_{t+1}/∂u_t a_{t+1},
 *
 * with a_t = ∂L/∂u_t (the current's gradient), b_t = ∂L/∂s_t, ∂u_{t+1}/∂u_t = β (β(1 − s_t) for a
 * zero reset), the reset's term −ϑ (−β u_t for a zero reset) dropped with `detachReset`, and
 * ∂L/∂V = Σ_t s_{t−1}ᵀ a_t as one product over all steps. The recurrent input keeps its gradient
 * either way, as in the unrolled loop.
 */
import * as tf from '@tensorflow/tfjs';
import type { LifSequenceOptions } from './lif-sequence.js';

/** The spikes `[T, B, N]` of a recurrent LIF population from rest, driven by `currents` `[T, B, N]` and V `[N, N]`. */
export function lifRecurrentSequence(currents: tf.Tensor, recurrent: tf.Tensor, o: LifSequenceOptions): tf.Tensor {
  const { beta, threshold, reset } = o;
  const op = tf.customGrad(((c: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const drives = tf.unstack(c);
    const membranes: tf.Tensor[] = [],
      spikes: tf.Tensor[] = [];
    for (const [t, drive] of drives.entries()) {
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
    tf.dispose(drives);
    const membrane = tf.stack(membranes),
      spiked = tf.stack(spikes);
    tf.dispose([...membranes, ...spikes]);
    save([membrane, spiked, v]);
    return {
      value: spiked,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [u, s, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          const steps = u.shape[0]!;
          const slope = tf.unstack(o.surrogate.derivative(tf.sub(u, threshold)));
          const upstream = tf.unstack(dy),
            us = tf.unstack(u),
            ss = tf.unstack(s);
          const wT = tf.transpose(w);
          const adjoint: tf.Tensor[] = new Array(steps);
          for (let t = steps - 1; t >= 0; t--) {
            const next = adjoint[t + 1];
            adjoint[t] = tf.tidy(() => {
              if (!next) return tf.mul(slope[t]!, upstream[t]!);
              let b = tf.add(upstream[t]!, tf.matMul(next, wT));
              if (!o.detachReset && reset === 'subtract') b = tf.sub(b, tf.mul(threshold, next));
              if (!o.detachReset && reset === 'zero') b = tf.sub(b, tf.mul(tf.mul(beta, us[t]!), next));
              const carry = reset === 'zero' ? tf.mul(tf.mul(beta, tf.sub(1, ss[t]!)), next) : tf.mul(beta, next);
              return tf.add(tf.mul(slope[t]!, b), carry);
            });
          }
          const a = tf.stack(adjoint);
          // ∂L/∂V = Σ_t s_{t−1}ᵀ a_t: the spikes shifted one step (none before the first) against the adjoints
          const n = w.shape[0]!;
          const previous = tf.concat([tf.zerosLike(s.slice([0], [1])), s.slice([0], [steps - 1])]);
          const dV = tf.matMul(tf.reshape(previous, [-1, n]), tf.reshape(a, [-1, n]), true, false);
          return [a, dV];
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (c: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return op(currents, recurrent);
}
