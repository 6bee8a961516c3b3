/**
 * Formulas compiled to tfjs ops against mathjs evaluating the same text (a second, independent
 * evaluator), and a formula surrogate's backward pass against its formula.
 */
import * as tf from '@tensorflow/tfjs';
import { evaluate } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { compileFormula } from '../src/neurons/formula.js';
import { formulaSurrogate, surrogateSpike } from '../src/neurons/surrogate.js';

const grid = Array.from({ length: 41 }, (_, i) => -2 + i * 0.1);

describe('formulas', () => {
  it.each([
    '1 / (1 + (pi * x)^2)',
    'exp(-abs(x)) / 2',
    'max(0, 1 - abs(x) / 0.5) / 0.5',
    'sigmoid(4 * x) * (1 - sigmoid(4 * x)) * 4',
    '-x^2 + 3 * tanh(x) - sqrt(abs(x) + e) + atan(x) + erf(x / 2) + min(x, 0.3) + sign(x) + cos(x) * sin(x) + log(2 + x)',
  ])('%s equals mathjs on a grid', (text) => {
    const f = compileFormula(text, ['x'], 'test');
    const got = tf.tidy(() => Array.from(f({ x: tf.tensor1d(grid) }).dataSync()));
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    grid.forEach((x, i) => expect(got[i]).toBeCloseTo(evaluate(text, { x, sigmoid }) as number, 4));
  });

  it.each([
    ['2 * y', /unknown variable 'y' in '2 \* y'; the variables are x/],
    ['gamma(x)', /unknown function 'gamma'/],
    ['max(x)', /max takes 2 arguments, got 1/],
    ['1 +', /is not a formula/],
    ['x > 0', /operator '>' is not supported/],
    ['[x, 1]', /uses array syntax/],
  ])('rejects %s', (text, message) => {
    expect(() => compileFormula(text, ['x'], 'test')).toThrow(message);
  });

  it('a formula surrogate spikes by the Heaviside step and differentiates by its formula', () => {
    const s = formulaSurrogate('1 / (1 + (pi * x)^2)');
    const x = tf.tensor1d(grid);
    const [value, grad] = tf.tidy(() => [
      Array.from(surrogateSpike(s)(x).dataSync()),
      Array.from(
        tf
          .grad((y: tf.Tensor) => tf.sum(surrogateSpike(s)(y)))(x)
          .dataSync(),
      ),
    ]);
    grid.forEach((v, i) => {
      expect(value[i]).toBe(v > 0 ? 1 : 0);
      expect(grad[i]).toBeCloseTo(1 / (1 + (Math.PI * v) ** 2), 5);
    });
    x.dispose();
    expect(() => formulaSurrogate('1 / x')).toThrow(/not finite near the threshold/);
  });
});
