/**
 * Noise schedules (σ annealed over a run) and the noise a run's stochastic network fires with:
 * the named schedule against its closed form, a run that logs and uses each step's factor (steps at
 * factor 1 give the constant schedule's losses bit for bit, later ones do not), 'auto' resolved,
 * bad settings refused by name; `--eval-noise`'s per-layer noise against the estimator's.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, noiseScheduleOf, resolveConfig } from '../src/cli/config.js';
import { buildNetwork, noiseOf } from '../src/cli/recipe.js';
import { CONFIG_FILE, resumeTraining, runTraining } from '../src/cli/train.js';
import { METRICS_LOG } from '../src/learning/trainer.js';
import { NOISE_SCALE, schedule } from '../src/learning/schedule.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-noise-schedule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 'anneal' written out: 1 until half the run, linear to 1/5 at 70%, then 1/5. */
const anneal = (progress: number) => (progress <= 0.5 ? 1 : progress >= 0.7 ? 0.2 : 1 - (0.8 * (progress - 0.5)) / 0.2);

describe('noise schedules', () => {
  it("'anneal' follows its closed form; 'constant' is 1; a formula works as a learning-rate schedule's does", () => {
    const ctx = { total: 100, stepsPerEpoch: 50 };
    const f = schedule('anneal', ctx, NOISE_SCALE);
    for (const step of [0, 25, 50, 55, 60, 65, 69, 70, 71, 99]) expect(f(step)).toBeCloseTo(anneal(step / 100), 12);
    expect(schedule('constant', ctx, NOISE_SCALE)(77)).toBe(1);
    expect(schedule('0.5 ^ epoch', ctx, NOISE_SCALE)(60)).toBe(0.5);
  });

  it.each([
    [
      '1 - progress * 2',
      /noise schedule '1 - progress \* 2': gives 0 at step 50 of 100; it must give a finite number > 0 \(σ times 0 leaves no noise to score\)/,
    ],
    ['cosine', /noise schedule 'cosine': unknown variable 'cosine'/], // a learning-rate name, not a noise one
    ['sigma * 2', /noise schedule 'sigma \* 2': unknown variable 'sigma'/],
  ])('rejects %s with the noise schedule named', (text, message) => {
    expect(() => schedule(text, { total: 100, stepsPerEpoch: 50 }, NOISE_SCALE)).toThrow(message);
  });

  it("'auto' anneals an LR conv stack only; a choice stands; a method without escape noise refuses one", async () => {
    const lr = defaultConfig('lr');
    expect(noiseScheduleOf({ ...lr, conv: '2c3-p2' })).toBe('anneal');
    expect(noiseScheduleOf({ ...lr, hidden: [6, 5] })).toBe('constant');
    expect(noiseScheduleOf({ ...lr, hidden: [6], recurrent: true })).toBe('constant');
    expect(noiseScheduleOf({ ...defaultConfig('bptt'), conv: '2c3-p2' })).toBe('constant');
    expect(noiseScheduleOf({ ...lr, conv: '2c3-p2', noiseSchedule: 'constant' })).toBe('constant');
    expect(noiseScheduleOf({ ...lr, noiseSchedule: 'anneal' })).toBe('anneal');
    await expect(resolveConfig({ flags: { method: 'bptt', noiseSchedule: 'anneal' } })).rejects.toThrow(
      /noiseSchedule scales LR's escape noise; method 'bptt' has none: drop noiseSchedule or use method 'lr'/,
    );
    await expect(resolveConfig({ flags: { method: 'lr', noiseSchedule: '2 * sigma' } })).rejects.toThrow(
      /noise schedule '2 \* sigma': unknown variable 'sigma'/,
    );
  });

  it('a run logs each step’s σ factor and trains with it: steps at factor 1 repeat the constant run’s losses bit for bit, annealed ones differ', async () => {
    const flags = { method: 'lr' as const, trainLimit: 200, testLimit: 20, conv: '2c3-p2', hidden: [8], steps: 4, batchSize: 20, epochs: 1, copies: 4 };
    const steps = async (noiseSchedule: string) => {
      const out = path.join(dir, noiseSchedule);
      await runTraining(await resolveConfig({ flags: { ...flags, noiseSchedule } }), { out });
      return readFileSync(path.join(out, METRICS_LOG), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"type":"step"'))
        .map((l) => JSON.parse(l) as { step: number; loss: number; sigmaScale?: number });
    };
    const annealed = await steps('auto'); // a conv stack: anneal
    const constant = await steps('constant');
    expect(annealed.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // the line after step k logs the factor step k took (progress (k − 1)/10)
    for (const s of annealed) expect(s.sigmaScale).toBeCloseTo(anneal((s.step - 1) / 10), 12);
    expect(constant.every((s) => s.sigmaScale === undefined)).toBe(true);
    const atOne = annealed.filter((s) => s.sigmaScale === 1).length;
    expect(atOne).toBe(6); // progress 0 … 0.5
    expect(annealed.slice(0, atOne).map((s) => s.loss)).toEqual(constant.slice(0, atOne).map((s) => s.loss));
    expect(annealed[atOne]!.loss).not.toBe(constant[atOne]!.loss);
  });
});

describe('a run directory written before a key existed', () => {
  it('resumes with the behaviour it began with: no annealing, whole-run credit', async () => {
    const out = path.join(dir, 'older');
    mkdirSync(out);
    const config = await resolveConfig({
      flags: { method: 'lr', trainLimit: 200, testLimit: 20, conv: '2c3-p2', hidden: [8], steps: 4, batchSize: 20, copies: 4 },
    });
    const { noiseSchedule: _n, causalCredit: _c, ...older } = config;
    writeFileSync(path.join(out, CONFIG_FILE), JSON.stringify(older)); // as an older version wrote it, stopped before a checkpoint
    await resumeTraining(out, {});
    const written = JSON.parse(readFileSync(path.join(out, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    expect([written['noiseSchedule'], written['causalCredit']]).toEqual(['constant', false]);
    expect(readFileSync(path.join(out, METRICS_LOG), 'utf8')).not.toMatch(/sigmaScale/);
  });
});

describe('the noise of the stochastic network a run trains, per layer', () => {
  it('a recurrent layer fires at recurrentNoiseScale × σ, layerNoise overrides, the readout has none', async () => {
    const config = await resolveConfig({
      flags: { method: 'lr', hidden: [6, 5], recurrent: true, noise: 'logistic:0.5', layerNoise: { hidden2: 'gaussian:0.3' } },
    });
    const net = buildNetwork(config, [8], 3);
    try {
      const noise = noiseOf(config, net);
      expect(Object.keys(noise).sort()).toEqual(['hidden1', 'hidden2']);
      expect(noise['hidden1']).toEqual({ kind: 'logistic', sigma: 0.5 * config.recurrentNoiseScale });
      expect(noise['hidden2']).toEqual({ kind: 'gaussian', sigma: 0.3 });
    } finally {
      net.dispose();
    }
  });
});
