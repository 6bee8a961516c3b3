/**
 * Adam as one wasm kernel (src/kernels/adam-kernel.ts) against Adam as separate tensor ops (the fused
 * kernels off): the same parameters and moments, bit for bit, over several steps and a schedule —
 * and both against Adam's closed form in float64 on a small case.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { optimizer } from '../src/learning/optim.js';
import { useFusedKernels } from '../src/kernels/noisy-lif-kernel.js';

afterEach(() => useFusedKernels(true));

/** Five Adam steps on variables of `shapes` with gradients from a fixed stream; the final values and moments. */
function run(fused: boolean, shapes: number[][]): Float32Array[] {
  useFusedKernels(fused);
  const vars = shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', 10 + i)));
  const opt = optimizer({ kind: 'adam', learningRate: 3e-3 }, (v) => String(vars.indexOf(v)));
  for (let step = 0; step < 5; step++) {
    const grads = new Map(vars.map((v, i) => [v, tf.randomNormal(v.shape, 0, 1, 'float32', 100 * step + i + 1)] as const));
    opt.apply(grads, 1 - step / 10);
    grads.forEach((g) => g.dispose());
  }
  const out = [...vars.map((v) => v.dataSync() as Float32Array), ...[...opt.state().values()].map((t) => t.dataSync() as Float32Array)];
  opt.dispose();
  vars.forEach((v) => v.dispose());
  return out;
}

describe('Adam in one kernel', () => {
  it('equals Adam in separate ops to the bit (a tail past the 4-wide loop included)', () => {
    const shapes = [[37, 11], [3], [1000]];
    const [a, b] = [run(true, shapes), run(false, shapes)];
    expect(a.length).toBe(9);
    a.forEach((x, i) =>
      expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength)), `tensor ${i}`).toBe(true),
    );
  });

  it("follows Adam's closed form (float64) within float32 rounding", () => {
    useFusedKernels(true);
    const v = tf.variable(tf.tensor1d([0.5, -1, 2, 0, 3]));
    const opt = optimizer({ kind: 'adam', learningRate: 0.1 });
    let theta = [0.5, -1, 2, 0, 3],
      m = theta.map(() => 0),
      s = theta.map(() => 0);
    for (let t = 1; t <= 3; t++) {
      const g = theta.map((x, i) => Math.sin(x + i + t));
      const grad = tf.tensor1d(g);
      opt.apply(new Map([[v, grad]]));
      grad.dispose();
      m = m.map((x, i) => 0.9 * x + 0.1 * g[i]!);
      s = s.map((x, i) => 0.999 * x + 0.001 * g[i]! ** 2);
      theta = theta.map((x, i) => x - (0.1 * m[i]!) / (1 - 0.9 ** t) / (Math.sqrt(s[i]! / (1 - 0.999 ** t)) + 1e-8));
      // the float32 run follows its own rounded iterates: compare each step from the kernel's values
      const got = Array.from(v.dataSync());
      got.forEach((x, i) => expect(Math.abs(x - theta[i]!)).toBeLessThan(1e-5));
      theta = got;
    }
    opt.dispose();
    v.dispose();
  });
});
