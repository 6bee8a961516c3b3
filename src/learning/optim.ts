/**
 * Optimizers whose whole state is explicit tensors and a step count, so a checkpoint restores them
 * bit-for-bit (tfjs's AdamOptimizer recomputes β^t by `pow` on restore where it had multiplied step
 * by step: a resumed run would drift in the last bits).
 *
 * Adam (Kingma and Ba 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η m̂/(√v̂ + ε) with
 * m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). SGD with momentum μ (PyTorch's form): b ← μb + g, θ ← θ − ηb;
 * Nesterov: θ ← θ − η(g + μb).
 */
import * as tf from '@tensorflow/tfjs';
import { checkInRange, checkKeys, checkOneOf, checkPositive } from '../core/errors.js';
import { adamStep } from '../kernels/adam-kernel.js';

export const OPTIMIZERS = ['adam', 'sgd'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

export interface OptimizerConfig {
  readonly kind: OptimizerKind;
  /** Base learning rate η (a schedule multiplies it). */
  readonly learningRate: number;
  /** Adam's β₁, β₂, ε. */
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** SGD's momentum μ and Nesterov flag. */
  readonly momentum?: number;
  readonly nesterov?: boolean;
  /** L2 weight decay added to the gradient (coupled, as torch.optim's weight_decay). */
  readonly weightDecay?: number;
}

export interface Optimizer {
  readonly config: OptimizerConfig;
  /** Optimizer steps taken. */
  readonly steps: number;
  /** Applies one step with learning rate η·`factor`. */
  apply(gradients: ReadonlyMap<tf.Variable, tf.Tensor>, factor?: number): void;
  /** State tensors by name (`<variable>.m`, `<variable>.v`, `<variable>.momentum`); the optimizer keeps ownership. */
  state(): Map<string, tf.Tensor>;
  /** Restores a state written by {@link state} after `steps` steps (copies the tensors). */
  restore(state: ReadonlyMap<string, tf.Tensor>, steps: number): void;
  dispose(): void;
}

/**
 * An optimizer for `config`. `nameOf` names a variable's state entries (default: the variable's
 * tfjs name; a trainer passes names that survive a restart, such as `hidden.weight`).
 */
export function optimizer(
  config: OptimizerConfig,
  nameOf: (v: tf.Variable) => string = (v) => v.name,
  /** A variable's learning rate as a multiple of the config's (per-layer rates; default 1). */
  rateOf: (v: tf.Variable) => number = () => 1,
): Optimizer {
  checkKeys('optimizer', config, ['kind', 'learningRate', 'beta1', 'beta2', 'epsilon', 'momentum', 'nesterov', 'weightDecay']);
  checkOneOf('optimizer', 'kind', config.kind, OPTIMIZERS);
  checkPositive('optimizer', 'learningRate', config.learningRate);
  const beta1 = config.beta1 ?? 0.9,
    beta2 = config.beta2 ?? 0.999,
    epsilon = config.epsilon ?? 1e-8;
  const momentum = config.momentum ?? 0,
    weightDecay = config.weightDecay ?? 0;
  checkInRange('optimizer', 'beta1', beta1, 0, 0.999999);
  checkInRange('optimizer', 'beta2', beta2, 0, 0.999999);
  checkPositive('optimizer', 'epsilon', epsilon);
  checkInRange('optimizer', 'momentum', momentum, 0, 0.999999);
  checkInRange('optimizer', 'weightDecay', weightDecay, 0, Infinity);
  const state = new Map<string, tf.Variable>();
  let steps = 0;
  const slot = (v: tf.Variable, s: string) => {
    const key = `${nameOf(v)}.${s}`;
    let t = state.get(key);
    if (!t) {
      t = tf.variable(tf.zerosLike(v), false);
      state.set(key, t);
    }
    return t;
  };
  return {
    config,
    get steps() {
      return steps;
    },
    apply(gradients, factor = 1) {
      steps++;
      const base = config.learningRate * factor;
      // bias corrections in float64 from the step count: the same on every run and every resume
      const c1 = 1 - beta1 ** steps,
        c2 = 1 - beta2 ** steps;
      for (const [v, grad] of gradients) {
        const rate = base * rateOf(v);
        tf.tidy(() => {
          const g = weightDecay > 0 ? tf.add(grad, tf.mul(v, weightDecay)) : grad;
          if (config.kind === 'adam') {
            const m = slot(v, 'm'),
              s = slot(v, 'v');
            const fused = adamStep(v, m, s, g, { beta1, beta2, rate: rate / c1, c2, epsilon });
            if (fused) {
              v.assign(fused[0]);
              m.assign(fused[1]);
              s.assign(fused[2]);
              return;
            }
            m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
            s.assign(tf.add(tf.mul(s, beta2), tf.mul(tf.square(g), 1 - beta2)));
            v.assign(tf.sub(v, tf.div(tf.mul(m, rate / c1), tf.add(tf.sqrt(tf.div(s, c2)), epsilon))));
          } else if (momentum > 0) {
            const b = slot(v, 'momentum');
            b.assign(steps === 1 ? g : tf.add(tf.mul(b, momentum), g));
            v.assign(tf.sub(v, tf.mul(config.nesterov ? tf.add(g, tf.mul(b, momentum)) : b, rate)));
          } else {
            v.assign(tf.sub(v, tf.mul(g, rate)));
          }
        });
      }
    },
    state: () => new Map(state),
    restore(saved, at) {
      for (const [key, value] of saved) {
        state.get(key)?.dispose();
        state.set(key, tf.variable(value, false));
      }
      steps = at;
    },
    dispose() {
      state.forEach((t) => t.dispose());
      state.clear();
    },
  };
}
