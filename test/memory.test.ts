/** withPeakBytes against a hand-counted allocation pattern and against tf.profile's peakBytes. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { withPeakBytes } from '../src/learning/memory.js';

describe('peak tensor bytes', () => {
  const pattern = () => {
    const a = tf.zeros([10_000]); // +40 000 bytes
    const b = tf.zeros([5_000]); // +20 000: 60 000 live
    a.dispose(); // 20 000
    const c = tf.tidy(() => tf.add(tf.ones([7_000]), 1)); // + ones 28 000, the scalar 1 4, the sum 28 000: 76 004 at most
    b.dispose();
    return c;
  };

  it("counts the most bytes live at once, the caller's tensors included", async () => {
    const held = tf.zeros([1_000]); // 4 000 bytes live before
    const base = tf.memory().numBytes;
    const { result, peakBytes } = withPeakBytes(pattern);
    expect(peakBytes - base).toBe(76_004);
    expect(result.shape).toEqual([7_000]);
    result.dispose();
    // the same as tf.profile's peakBytes for the same computation
    let r2!: tf.Tensor;
    const info = await tf.profile(() => {
      r2 = pattern();
    });
    expect(info.peakBytes).toBe(peakBytes);
    r2.dispose();
    held.dispose();
  });

  it('restores the engine when the computation throws', () => {
    const proto = Object.getPrototypeOf(tf.engine()).disposeTensor;
    expect(() =>
      withPeakBytes(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect((tf.engine() as unknown as { disposeTensor: unknown }).disposeTensor).toBe(proto);
  });
});
