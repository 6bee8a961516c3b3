import { describe, expect, it } from 'vitest';
import { sobolColumn, sobolPoints } from '../src/learning/sobol.js';

const unit = (x: number) => x / 2 ** 32;

describe('Sobol points', () => {
  it('start with the published first points of dimensions 1 and 2', () => {
    // Joe & Kuo's generator: dimension 1 is van der Corput in base 2; dimension 2 (s = 1, a = 0, m = 1)
    const p = sobolPoints(8, 2);
    expect(Array.from({ length: 8 }, (_, n) => unit(p[n * 2]!))).toEqual([0, 0.5, 0.75, 0.25, 0.375, 0.875, 0.625, 0.125]);
    expect(Array.from({ length: 8 }, (_, n) => unit(p[n * 2 + 1]!))).toEqual([0, 0.5, 0.25, 0.75, 0.375, 0.875, 0.125, 0.625]);
  });

  it('form (0, m, 2)-nets in dimensions 1–2: every elementary box of volume 2^-m holds one point', () => {
    for (const m of [2, 4, 6]) {
      const n = 2 ** m;
      const p = sobolPoints(n, 2);
      for (let a = 0; a <= m; a++) {
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) seen.add(`${Math.floor(unit(p[2 * i]!) * 2 ** a)},${Math.floor(unit(p[2 * i + 1]!) * 2 ** (m - a))}`);
        expect(seen.size).toBe(n);
      }
    }
  });

  it('stratify every one-dimensional projection, far into the table', () => {
    for (const d of [0, 7, 500, 21200]) {
      const col = sobolColumn(64, d);
      expect(new Set(Array.from(col, (x) => Math.floor(unit(x) * 64))).size).toBe(64);
    }
  });

  it('rejects counts that are not powers of two', () => {
    expect(() => sobolPoints(12, 3)).toThrow(/count must be a power of two, got 12/);
  });
});
