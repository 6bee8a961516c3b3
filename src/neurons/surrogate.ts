/**
 * Surrogate gradients for the surrogate-gradient BPTT baseline: the spike s = H(x), x = u − ϑ, keeps
 * its Heaviside forward pass and takes a smooth derivative backwards. Each surrogate is the
 * derivative of a smooth step S (its `smooth` form, used to check BPTT by finite differences).
 * Definitions follow snnTorch's `surrogate` module.
 *
 *     atan(α):           S'(x) = (α/2) / (1 + (π α x / 2)²)          S(x) = arctan(π α x / 2)/π + 1/2
 *     fastSigmoid(k):    S'(x) = 1 / (1 + k|x|)²                      S(x) = x/(1 + k|x|)  (a step of height 2/k)
 *     sigmoid(k):        S'(x) = k σ(kx)(1 − σ(kx))                   S(x) = σ(kx)
 *     triangular(w):     S'(x) = max(0, 1 − |x|/w)/w                  (unit area, support |x| < w)
 *     straightThrough(): S'(x) = 1                                     S(x) = x + 1/2
 */
import * as tf from '@tensorflow/tfjs';
import type { SurrogateForm } from '../kernels/lif-sequence.js';

export type { SurrogateForm } from '../kernels/lif-sequence.js';
import { check, checkPositive } from '../core/errors.js';
import { compileFormula } from './formula.js';

export interface Surrogate {
  readonly name: string;
  /** S'(x). */
  derivative(x: tf.Tensor): tf.Tensor;
  /** S(x), a smooth step whose derivative is `derivative` (absent for user-defined surrogates). */
  smooth?(x: tf.Tensor): tf.Tensor;
  /** S' as constants of a known form, for kernels that compute it themselves (BPTT's fused LIF loop); absent: they call `derivative`. */
  readonly form?: SurrogateForm;
}

export function atan(o: { readonly alpha?: number } = {}): Surrogate {
  const a = o.alpha ?? 2;
  checkPositive('atan', 'alpha', a);
  return {
    name: `atan(${a})`,
    form: { kind: 'atan', c: (Math.PI * a) / 2, a: a / 2 },
    derivative: (x) => tf.tidy(() => tf.div(a / 2, tf.add(1, tf.square(tf.mul((Math.PI * a) / 2, x))))),
    smooth: (x) => tf.tidy(() => tf.add(tf.div(tf.atan(tf.mul((Math.PI * a) / 2, x)), Math.PI), 0.5)),
  };
}

export function fastSigmoid(o: { readonly slope?: number } = {}): Surrogate {
  const k = o.slope ?? 25;
  checkPositive('fastSigmoid', 'slope', k);
  return {
    name: `fastSigmoid(${k})`,
    form: { kind: 'fast-sigmoid', c: k, a: 1 },
    derivative: (x) => tf.tidy(() => tf.div(1, tf.square(tf.add(1, tf.mul(k, tf.abs(x)))))),
    // ∫ (1 + k|x|)^-2 dx = x / (1 + k|x|): snnTorch's fast sigmoid is the derivative of a step of height 2/k
    smooth: (x) => tf.tidy(() => tf.div(x, tf.add(1, tf.mul(k, tf.abs(x))))),
  };
}

export function sigmoid(o: { readonly slope?: number } = {}): Surrogate {
  const k = o.slope ?? 25;
  checkPositive('sigmoid', 'slope', k);
  return {
    name: `sigmoid(${k})`,
    derivative: (x) =>
      tf.tidy(() => {
        const s = tf.sigmoid(tf.mul(k, x));
        return tf.mul(k, tf.mul(s, tf.sub(1, s)));
      }),
    smooth: (x) => tf.tidy(() => tf.sigmoid(tf.mul(k, x))),
  };
}

export function triangular(o: { readonly width?: number } = {}): Surrogate {
  const w = o.width ?? 1;
  checkPositive('triangular', 'width', w);
  return {
    name: `triangular(${w})`,
    form: { kind: 'triangular', c: w, a: 1 },
    derivative: (x) => tf.tidy(() => tf.div(tf.relu(tf.sub(1, tf.div(tf.abs(x), w))), w)),
    // S(x) = 1/2 + sign(x)(y − y²/2), y = min(|x|/w, 1): rises from 0 to 1 over |x| < w
    smooth: (x) =>
      tf.tidy(() => {
        const y = tf.minimum(tf.div(tf.abs(x), w), 1);
        return tf.add(0.5, tf.mul(tf.sign(x), tf.sub(y, tf.mul(0.5, tf.square(y)))));
      }),
  };
}

export function straightThrough(): Surrogate {
  return { name: 'straightThrough', derivative: (x) => tf.onesLike(x), smooth: (x) => tf.add(x, 0.5), form: { kind: 'straight-through', c: 1, a: 1 } };
}

/** A user-defined surrogate from its derivative (a function of x = u − ϑ, elementwise). */
export function customSurrogate(name: string, derivative: (x: tf.Tensor) => tf.Tensor): Surrogate {
  check(typeof derivative === 'function', () => 'customSurrogate: derivative must be a function of x = u − ϑ');
  return { name, derivative: (x) => tf.tidy(() => derivative(x)) };
}

/**
 * A surrogate whose derivative is a formula in x = u − ϑ (mathjs syntax, compiled to tfjs ops),
 * e.g. `formulaSurrogate('1 / (1 + (pi * x)^2)')`.
 */
export function formulaSurrogate(formula: string): Surrogate {
  const f = compileFormula(formula, ['x'], 'surrogate formula');
  // a formula that is not finite near the threshold would poison every gradient: checked once
  const probe = tf.tidy(() => Array.from(f({ x: tf.tensor1d([-2, -0.5, 0, 0.5, 2]) }).dataSync()));
  check(
    probe.every(Number.isFinite),
    () => `surrogate formula '${formula}': not finite near the threshold (at x = -2, -0.5, 0, 0.5, 2 it gives ${probe.join(', ')})`,
  );
  return { name: `formula(${formula})`, derivative: (x) => tf.tidy(() => tf.mul(f({ x }), tf.onesLike(x))) };
}

/** s = H(x) forward, ds/dx = S'(x) backward. */
export function surrogateSpike(surrogate: Surrogate): (x: tf.Tensor) => tf.Tensor {
  const f = (x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x]);
    return {
      value: tf.step(x),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.mul(dy as tf.Tensor, surrogate.derivative(saved[0]!)),
    };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
}

export const SURROGATE_NAMES = ['atan', 'fast-sigmoid', 'sigmoid', 'triangular', 'straight-through', 'formula'] as const;
export type SurrogateName = (typeof SURROGATE_NAMES)[number];

/** A surrogate by name, with its scale (α, slope or width) or, for 'formula', S'(x) in mathjs syntax. */
export function surrogateByName(name: SurrogateName, scale: number, formula: string): Surrogate {
  switch (name) {
    case 'atan':
      return atan({ alpha: scale });
    case 'fast-sigmoid':
      return fastSigmoid({ slope: scale });
    case 'sigmoid':
      return sigmoid({ slope: scale });
    case 'triangular':
      return triangular({ width: scale });
    case 'straight-through':
      return straightThrough();
    case 'formula':
      return formulaSurrogate(formula);
  }
}
