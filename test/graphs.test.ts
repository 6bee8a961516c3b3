import { describe, expect, it } from 'vitest';
import { stochasticBlockModel } from '../src/data/graphs.js';
import { normalizedAdjacency } from '../src/sim/layer.js';

describe('stochastic block model', () => {
  it('joins pairs inside and across blocks with pIn and pOut (binomial tolerance)', () => {
    const g = stochasticBlockModel({ blocks: [60, 60, 80], pIn: 0.2, pOut: 0.03, seed: 4 });
    expect(g.nodes).toBe(200);
    const inPairs = [60, 60, 80].reduce((s, b) => s + (b * (b - 1)) / 2, 0);
    const outPairs = (200 * 199) / 2 - inPairs;
    const inside = g.edges.filter(([i, j]) => g.labels[i] === g.labels[j]).length;
    const across = g.edges.length - inside;
    expect(Math.abs(inside - 0.2 * inPairs)).toBeLessThan(4.5 * Math.sqrt(inPairs * 0.2 * 0.8));
    expect(Math.abs(across - 0.03 * outPairs)).toBeLessThan(4.5 * Math.sqrt(outPairs * 0.03 * 0.97));
    expect(g.edges.every(([i, j]) => i < j)).toBe(true);
    expect(stochasticBlockModel({ blocks: [60, 60, 80], pIn: 0.2, pOut: 0.03, seed: 4 }).edges).toEqual(g.edges);
  });

  it('normalises the adjacency as D^(-1/2)(A + I)D^(-1/2)', () => {
    // path 0-1-2: degrees with self-loops 2, 3, 2
    const a = Array.from(
      normalizedAdjacency(3, [
        [0, 1],
        [1, 2],
      ]),
    );
    const expected = [1 / 2, 1 / Math.sqrt(6), 0, 1 / Math.sqrt(6), 1 / 3, 1 / Math.sqrt(6), 0, 1 / Math.sqrt(6), 1 / 2];
    a.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });
});
