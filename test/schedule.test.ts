/** Learning-rate schedules: named ones against their formulas, user formulas, and bad formulas. */
import { describe, expect, it } from 'vitest';
import { schedule } from '../src/learning/schedule.js';

const ctx = { total: 100, stepsPerEpoch: 25 };

describe('learning-rate schedules', () => {
  it('cosine runs from 1 through 1/2 at the midpoint towards 0; linear likewise; constant is 1', () => {
    const cos = schedule('cosine', ctx);
    expect([cos(0), cos(50)]).toEqual([1, 0.5]);
    expect(cos(25)).toBeCloseTo((1 + Math.SQRT1_2) / 2, 12);
    expect(cos(100)).toBeCloseTo(0, 12);
    expect(schedule('linear', ctx)(75)).toBeCloseTo(0.25, 12);
    expect(schedule('constant', ctx)(63)).toBe(1);
  });

  it('a formula sees step, total, progress, epoch and stepsPerEpoch', () => {
    const f = schedule('0.1 ^ floor(epoch / 2) + step / total - progress + 0 * stepsPerEpoch', ctx);
    expect(f(0)).toBeCloseTo(1, 12);
    expect(f(49)).toBeCloseTo(1, 12); // epoch 1
    expect(f(50)).toBeCloseTo(0.1, 12); // epoch 2
    expect(f(99)).toBeCloseTo(0.1, 12);
  });

  it.each([
    ['2 * stpe', /unknown variable 'stpe'; the variables are step, total, progress, epoch, stepsPerEpoch/],
    ['1 +', /not a formula/],
    ['1 - 2 * progress', /gives -0\.98 at step 99 of 100; it must give a finite number >= 0/],
    ['log(0)', /gives -Infinity at step 0/],
    ['x = 2', /assignments are not allowed/],
    ['nosuchfn(step)', /nosuchfn/],
  ])('rejects %s', (text, message) => {
    expect(() => schedule(text, ctx)).toThrow(message);
  });
});
