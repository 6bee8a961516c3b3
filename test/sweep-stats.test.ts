/**
 * The sweep's statistics against published values: Student's t quantiles from the standard
 * tables (to the table's 3 decimals), its CDF at points with closed forms, and a 95% interval
 * worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { interval, overlaps, studentCdf, studentQuantile } from '../src/cli/sweep/stats.js';

describe('Student t', () => {
  it.each([
    [1, 12.706],
    [2, 4.303],
    [3, 3.182],
    [4, 2.776],
    [9, 2.262],
    [29, 2.045],
    [120, 1.98],
  ])('t(0.975, df = %i) is %f as the tables give it', (df, t) => {
    expect(studentQuantile(0.975, df)).toBeCloseTo(t, 3);
  });

  it('has the closed-form CDF of one and two degrees of freedom', () => {
    for (const t of [-3, -0.5, 0, 0.7, 2.5]) {
      expect(studentCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12); // Cauchy
      expect(studentCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12);
    }
  });

  it('gives the interval of 0.90, 0.92, 0.94 as mean ± t(0.975, 2)·s/√3', () => {
    const i = interval([0.9, 0.92, 0.94]);
    expect(i.mean).toBeCloseTo(0.92, 12);
    expect(i.sd).toBeCloseTo(0.02, 12);
    const half = (4.302652729911275 * 0.02) / Math.sqrt(3);
    expect(i.ci95![0]).toBeCloseTo(0.92 - half, 9);
    expect(i.ci95![1]).toBeCloseTo(0.92 + half, 9);
  });

  it('has no spread to estimate from one seed, and says which intervals overlap', () => {
    expect(interval([0.5])).toEqual({ n: 1, mean: 0.5, sd: null, ci95: null });
    expect(overlaps(interval([0.9, 0.92, 0.94]), interval([0.5]))).toBe(false);
    expect(overlaps(interval([0.9, 0.92, 0.94]), interval([0.93]))).toBe(true);
    expect(() => studentQuantile(1, 3)).toThrow(/0 < p < 1/);
  });
});
