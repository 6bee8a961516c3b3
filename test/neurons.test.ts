import { describe, expect, it } from 'vitest';
import { alif, ifNeuron, lif, readoutNeuron, synaptic } from '../src/neurons/params.js';
import { refNeurons } from './reference.js';
import { constant, simulatePopulation, spikeTimes } from './helpers.js';

/** First step (1-based) at which I(1 − β^t)/(1 − β) exceeds ϑ: the closed form of a LIF from rest. */
function firstSpike(beta: number, current: number, threshold: number): number {
  if (beta === 1) return Math.floor(threshold / current) + 1;
  let t = Math.ceil(Math.log(1 - (threshold * (1 - beta)) / current) / Math.log(beta));
  const u = (k: number) => (current * (1 - beta ** k)) / (1 - beta);
  while (u(t) <= threshold) t++; // the ceil lands on the boundary when u(t) = ϑ exactly
  while (t > 1 && u(t - 1) > threshold) t--;
  return t;
}

describe('LIF under constant current', () => {
  const cases = [
    { beta: 0.9, current: 0.25, threshold: 1 },
    { beta: 0.5, current: 0.6, threshold: 1 },
    { beta: 0.95, current: 0.07, threshold: 1 },
    { beta: 0.8, current: 0.9, threshold: 2 },
  ];

  it.each(cases)('with zero reset fires every t* steps, t* from the closed form (β=$beta, I=$current)', ({ beta, current, threshold }) => {
    const tStar = firstSpike(beta, current, threshold);
    const steps = 6 * tStar + 3;
    const { spikes } = simulatePopulation(lif({ beta, threshold, reset: 'zero' }), constant(steps, [current]));
    const expected = Array.from({ length: Math.floor(steps / tStar) }, (_, k) => (k + 1) * tStar - 1);
    expect(spikeTimes(spikes)).toEqual(expected);
  });

  it.each(cases)('with no reset follows u_t = I(1 − β^t)/(1 − β) and fires at every t ≥ t* (β=$beta, I=$current)', ({ beta, current, threshold }) => {
    const tStar = firstSpike(beta, current, threshold);
    const steps = tStar + 10;
    const { spikes, membrane } = simulatePopulation(lif({ beta, threshold, reset: 'none' }), constant(steps, [current]));
    membrane.forEach((row, t) => expect(row[0]).toBeCloseTo((current * (1 - beta ** (t + 1))) / (1 - beta), 5));
    expect(spikeTimes(spikes)).toEqual(Array.from({ length: steps - tStar + 1 }, (_, k) => tStar - 1 + k));
  });

  it('with subtract reset and β = 1 (IF) has fired ceil(tI/ϑ) − 1 times after t steps', () => {
    for (const [current, threshold] of [
      [0.375, 1],
      [0.8125, 1],
      [0.25, 1.5],
      [1.0, 1.25],
    ] as const) {
      const steps = 64;
      const { spikes } = simulatePopulation(ifNeuron({ threshold, reset: 'subtract' }), constant(steps, [current]));
      let count = 0;
      spikes.forEach((row, t) => {
        count += row[0]!;
        expect(count).toBe(Math.max(0, Math.ceil(((t + 1) * current) / threshold) - 1));
      });
    }
  });

  it('with subtract reset matches the explicit sum u_t = Σ_j β^(t−j) (I − ϑ s_(j−1))', () => {
    const beta = 0.85,
      current = 0.4,
      threshold = 1;
    const { spikes, membrane } = simulatePopulation(lif({ beta, threshold, reset: 'subtract' }), constant(80, [current]));
    const s = spikes.map((r) => r[0]!);
    expect(s.reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
    membrane.forEach((row, t) => {
      let u = 0;
      for (let j = 0; j <= t; j++) u += beta ** (t - j) * (current - threshold * (j > 0 ? s[j - 1]! : 0));
      expect(row[0]).toBeCloseTo(u, 4);
      expect(s[t]).toBe(u > threshold ? 1 : 0);
    });
  });

  it('with a refractory period of r steps and zero reset fires at t* + k(t* + r)', () => {
    for (const refractory of [1, 3, 7]) {
      const beta = 0.9,
        current = 0.3,
        threshold = 1;
      const tStar = firstSpike(beta, current, threshold);
      const steps = 5 * (tStar + refractory);
      const { spikes } = simulatePopulation(lif({ beta, threshold, reset: 'zero', refractory }), constant(steps, [current]));
      const expected: number[] = [];
      for (let t = tStar; t <= steps; t += tStar + refractory) expected.push(t - 1);
      expect(spikeTimes(spikes)).toEqual(expected);
    }
  });

  it('neither integrates nor fires while refractory, with any reset (against the scalar reference)', () => {
    const currents = Array.from({ length: 40 }, (_, t) => [1.5, 0.5 + 0.5 * Math.sin(t), 0.3]);
    for (const reset of ['subtract', 'zero', 'none'] as const) {
      const p = lif({ beta: 0.75, threshold: 1, reset, refractory: 2 });
      const { spikes, membrane } = simulatePopulation(p, currents);
      const ref = refNeurons(p, currents);
      expect(spikes).toEqual(ref.spikes);
      membrane.forEach((row, t) => row.forEach((u, k) => expect(u).toBeCloseTo(ref.membrane[t]![k]!, 5)));
      // the strongly driven neuron fires exactly every third step: one spike, two refractory steps
      expect(spikeTimes(spikes, 0)).toEqual(Array.from({ length: 14 }, (_, k) => 3 * k).filter((t) => t < 40));
    }
  });
});

describe('current-based LIF (synaptic)', () => {
  it('integrates its synaptic current as the geometric series i_t = Σ_j α^(t−j) I_j', () => {
    const alpha = 0.8;
    const drive = Array.from({ length: 30 }, (_, t) => [t % 5 === 0 ? 0.5 : 0, 0.01 * t]);
    // A threshold no input reaches keeps the membrane free of resets: u_t = Σ β^(t−j) i_j.
    const beta = 0.9;
    const { membrane } = simulatePopulation(synaptic({ alpha, beta, threshold: 1e6 }), drive);
    membrane.forEach((row, t) =>
      row.forEach((u, k) => {
        let expected = 0;
        for (let j = 0; j <= t; j++) {
          let i = 0;
          for (let m = 0; m <= j; m++) i += alpha ** (j - m) * drive[m]![k]!;
          expected += beta ** (t - j) * i;
        }
        expect(u).toBeCloseTo(expected, 4);
      }),
    );
  });

  it('under constant input reaches the current I/(1 − α) and fires as the reference says', () => {
    const p = synaptic({ alpha: 0.5, beta: 0.5, threshold: 1, reset: 'subtract' });
    const currents = constant(30, [0.3, 0.6]);
    const { spikes } = simulatePopulation(p, currents);
    expect(spikes).toEqual(refNeurons(p, currents).spikes);
    // steady state without spikes: i = I/(1 − α) = 2I, u = i/(1 − β) = 4I → 1.2 fires, 0.3·4 = 1.2 too
    expect(spikeTimes(spikes, 1).length).toBeGreaterThan(spikeTimes(spikes, 0).length);
  });
});

describe('adaptive-threshold LIF (ALIF)', () => {
  it('raises and relaxes its threshold as the hand-computed recursion a_t = ρ a_(t−1) + s_(t−1), ϑ_t = ϑ + b a_t', () => {
    // β = 1, ϑ = 1, b = 0.5, ρ = 0.5, I = 0.625, subtract reset (all values exact in binary).
    //  t  a_t      ϑ_t       u_t                          s_t
    //  1  0        1         0.625                        0
    //  2  0        1         1.25                         1
    //  3  1        1.5       1.25 + 0.625 − 1     = 0.875 0
    //  4  0.5      1.25      1.5                          1
    //  5  1.25     1.625     1.5 + 0.625 − 1.25   = 0.875 0
    //  6  0.625    1.3125    1.5                          1
    //  7  1.3125   1.65625   1.5 + 0.625 − 1.3125 = 0.8125 0
    //  8  0.65625  1.328125  1.4375                       1
    const p = alif({ beta: 1, threshold: 1, adaptation: 0.5, rho: 0.5, reset: 'subtract' });
    const { spikes, membrane } = simulatePopulation(p, constant(8, [0.625]));
    expect(membrane.map((r) => r[0])).toEqual([0.625, 1.25, 0.875, 1.5, 0.875, 1.5, 0.8125, 1.4375]);
    expect(spikes.map((r) => r[0])).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expect(refNeurons(p, constant(8, [0.625])).threshold.map((r) => r[0])).toEqual([1, 1, 1.5, 1.25, 1.625, 1.3125, 1.65625, 1.328125]);
  });

  it('fires less than the same LIF under the same drive, and agrees with the reference for every reset', () => {
    const currents = constant(100, [0.35, 0.7]);
    for (const reset of ['subtract', 'zero', 'none'] as const) {
      const a = alif({ beta: 0.9, threshold: 1, adaptation: 0.3, rho: 0.9, reset });
      const { spikes, membrane } = simulatePopulation(a, currents);
      const ref = refNeurons(a, currents);
      expect(spikes).toEqual(ref.spikes);
      membrane.forEach((row, t) => row.forEach((u, k) => expect(u).toBeCloseTo(ref.membrane[t]![k]!, 4)));
      const plain = simulatePopulation(lif({ beta: 0.9, threshold: 1, reset }), currents);
      if (reset !== 'none') expect(spikeTimes(spikes, 1).length).toBeLessThan(spikeTimes(plain.spikes, 1).length);
    }
  });
});

describe('readout and IF', () => {
  it('the readout membrane is the leaky sum Σ_j β^(t−j) I_j and never spikes', () => {
    const drive = Array.from({ length: 20 }, (_, t) => [Math.cos(t), 2]);
    const { membrane, spikes } = simulatePopulation(readoutNeuron({ beta: 0.7 }), drive);
    // the second unit's membrane climbs to 2 / (1 − 0.7) ≈ 6.7, far over any LIF threshold: still no spike
    expect(Math.max(...membrane.map((row) => row[1]!))).toBeGreaterThan(6);
    expect(spikes.flat().every((s) => s === 0)).toBe(true);
    membrane.forEach((row, t) =>
      row.forEach((u, k) => {
        let e = 0;
        for (let j = 0; j <= t; j++) e += 0.7 ** (t - j) * drive[j]![k]!;
        expect(u).toBeCloseTo(e, 4);
      }),
    );
  });

  it('ifNeuron integrates without leak: constant current I and a subtractive reset of ϑ give floor(I (t + 1) / ϑ) spikes by step t', () => {
    // I / ϑ = 0.35 keeps I (t + 1) / ϑ at least 0.05 from an integer for t < 19, so the count is exact
    const steps = 19,
      I = 0.7,
      theta = 2;
    const { spikes } = simulatePopulation(ifNeuron({ threshold: theta, reset: 'subtract' }), constant(steps, [I]));
    let count = 0;
    for (let t = 0; t < steps; t++) {
      count += spikes[t]![0]!;
      expect(count, `spikes by step ${t}`).toBe(Math.floor((I * (t + 1)) / theta));
    }
    expect(count).toBe(6); // a leak of any size would lose some: β = 0.95 gives fewer
    expect(
      simulatePopulation(lif({ beta: 0.95, threshold: theta }), constant(steps, [I]))
        .spikes.flat()
        .reduce((a, b) => a + b, 0),
    ).toBeLessThan(6);
  });
});

describe('neuron parameter validation', () => {
  it.each([
    [() => lif({ beta: 1.5 }), /lif: beta must be in \[0, 1\], got 1.5/],
    [() => lif({ beta: -0.1 }), /beta must be in \[0, 1\]/],
    [() => lif({ beta: Number.NaN }), /beta must be a finite number, got NaN/],
    [() => lif({ threshold: 0 }), /lif: threshold must be > 0, got 0/],
    [() => synaptic({ threshold: -1 }), /synaptic: threshold must be > 0/],
    [() => lif({ reset: 'soft' as never }), /lif: unknown reset mode 'soft'; expected one of 'subtract', 'zero', 'none'/],
    [() => lif({ refractory: 1.5 }), /refractory must be an integer >= 0, got 1.5/],
    [() => synaptic({ alpha: 2 }), /synaptic: alpha must be in \[0, 1\], got 2/],
    [() => alif({ rho: 1.2 }), /alif: rho must be in \[0, 1\]/],
    [() => lif({ betta: 0.9 } as never), /lif: unknown option 'betta'/],
  ])('rejects bad parameters with a message naming them (%#)', (make, message) => {
    expect(make).toThrow(message);
  });
});
