/**
 * A sweep's plan, without training: every method × grid point × seed once, named by its values
 * (lists joined by commas), each config resolved from the method's recipe, the shared flags and
 * the point; a grid whose values would give two trials one name is refused.
 */
import { describe, expect, it } from 'vitest';
import { checkGrid, planSweep } from '../src/cli/sweep/plan.js';

describe('the plan of a sweep', () => {
  it('crosses methods, grid points and seeds, each trial named by its values and configured by them', async () => {
    const plan = await planSweep({
      methods: ['lr', 'bptt'],
      seeds: [1, 2],
      grid: checkGrid({ hidden: [[128], [64, 64]], 'learning-rate': [0.001] }, 'grid'),
      flags: { epochs: 2 },
    });
    expect(plan.trials.map((t) => t.name)).toEqual([
      'lr-hidden=128-learning-rate=0.001-seed1',
      'lr-hidden=128-learning-rate=0.001-seed2',
      'lr-hidden=64,64-learning-rate=0.001-seed1',
      'lr-hidden=64,64-learning-rate=0.001-seed2',
      'bptt-hidden=128-learning-rate=0.001-seed1',
      'bptt-hidden=128-learning-rate=0.001-seed2',
      'bptt-hidden=64,64-learning-rate=0.001-seed1',
      'bptt-hidden=64,64-learning-rate=0.001-seed2',
    ]);
    const t = plan.trials[6]!;
    expect([t.config.method, t.config.seed, t.config.hidden, t.config.learningRate, t.config.epochs]).toEqual(['bptt', 1, [64, 64], 0.001, 2]);
    // what the grid does not set comes from the method's recipe
    expect(plan.trials[0]!.config.copies).toBe(8);
  });

  it('refuses values that would give two trials one name, and repeated seeds or methods', async () => {
    // two formulas that differ only in characters a file name cannot hold
    await expect(planSweep({ methods: ['bptt'], seeds: [1], grid: { surrogateFormula: ['1/(1+x*x)', '1/(1+x^x)'] }, flags: {} })).rejects.toThrow(
      /two trials would both be named bptt-surrogate-formula=1_1\+x_x_-seed1/,
    );
    await expect(planSweep({ methods: ['lr'], seeds: [1, 1], grid: {}, flags: {} })).rejects.toThrow(/--seeds: a seed is listed twice/);
    await expect(planSweep({ methods: ['lr', 'lr'], seeds: [1], grid: {}, flags: {} })).rejects.toThrow(/--methods: a method is listed twice/);
    expect(() => checkGrid({ copies: [8, 8] }, 'g.json')).toThrow(/'copies' lists a value twice/);
  });
});
