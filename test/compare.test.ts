/** `spikelr compare`: methods and decorrelation variants side by side, gradients, robustness, the report. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('spikelr compare', () => {
  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build; npm test does it)`);
  });

  it('compare trains both methods from one initialisation and reports gradients and robustness', async () => {
    const out = path.join(dir, 'compare');
    const r = await spikelr(
      'compare',
      '--epochs',
      '1',
      '--train-limit',
      '300',
      '--test-limit',
      '100',
      '--hidden',
      '16',
      '--gradient-batches',
      '2',
      '--copies-sweep',
      '2,8',
      '--attack-samples',
      '50',
      '--epsilons',
      '0,0.1',
      '--noise-levels',
      '0.2',
      '--pgd-iterations',
      '3',
      '--out',
      out,
      '--no-progress',
    );
    expect(r.code).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(c.methods).toEqual(['lr', 'bptt']);
    for (const m of ['lr', 'bptt']) {
      expect(c.runs[m]).toMatchObject({ method: m, steps: 3, stopped: 'completed' });
      expect(c.runs[m].history).toHaveLength(1);
      expect(JSON.parse(readFileSync(path.join(out, m, 'config.json'), 'utf8')).hidden).toEqual([16]);
    }
    expect(c.gradients.initial.map((l: { parameter: string }) => l.parameter)).toEqual(['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']);
    // an average of K independent copies: 4× the copies, a quarter of the hidden layer's variance
    // (± the spread of 4 draws) and a cosine to BPTT's gradient that rises
    const [k2, k8] = c.gradients.sweeps.lr as { cosine: { mean: number }; layers: Record<string, { variance: number }> }[];
    const ratio = k2!.layers['hidden']!.variance / k8!.layers['hidden']!.variance;
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan(10);
    expect(k8!.cosine.mean).toBeGreaterThan(k2!.cosine.mean);
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr']);
    expect(c.gradients.sweeps.lr.map((s: { copies: number }) => s.copies)).toEqual([2, 8]);
    // at ε = 0 an attack leaves the images alone: the accuracy is the clean accuracy on those 50 images
    expect(c.robustness.fgsm.lr[0]).toBe(c.robustness.pgd.lr[0]);
    expect(c.robustness.transfer.lrFromBptt[0]).toBe(c.robustness.pgd.lr[0]);
    expect(Object.keys(c.robustness.gaussian)).toEqual(['lr', 'bptt']);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/\| PGD transfer \| bpttFromLr \|/);
  });

  it("compare takes any registered methods and puts each one's gradient beside BPTT's", async () => {
    const out = path.join(dir, 'compare-fg');
    const r = await spikelr(
      'compare',
      '--methods',
      'bptt,fg-activity',
      '--directions',
      '64',
      '--decorrelate',
      'readout',
      '--decorrelation-warmup',
      '3',
      '--epochs',
      '1',
      '--max-steps',
      '2',
      '--train-limit',
      '300',
      '--test-limit',
      '100',
      '--hidden',
      '16',
      '--gradient-batches',
      '2',
      '--copies-sweep',
      '2',
      '--attack-samples',
      '20',
      '--epsilons',
      '0',
      '--noise-levels',
      '0.2',
      '--pgd-iterations',
      '1',
      '--out',
      out,
      '--no-progress',
    );
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(Object.keys(c.runs)).toEqual(['bptt', 'fg-activity']);
    expect(c.gradients.decorrelationWarmup.steps).toBe(3); // R learned before the gradients were compared
    expect(Object.keys(c.gradients.decorrelationWarmup.loss)).toEqual(['out']);
    const rows = c.gradients.methods['fg-activity'] as { parameter: string; mean: number }[];
    expect(rows.map((l) => l.parameter)).toEqual(['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']);
    // an unbiased estimate of the same gradient, 64 directions over 100 samples: close in direction
    for (const l of rows) expect(l.mean, l.parameter).toBeGreaterThan(0.5);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## fg-activity vs BPTT gradient at initialisation/);
    const html = path.join(out, 'report.html');
    expect((await spikelr('report', out, '--out', html)).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/Gradient agreement: fg-activity estimate vs BPTT surrogate gradient/);
    expect(page).toContain(`${rows[0]!.mean.toFixed(3)} ± `);
    // LR and the sampling method swept against K, both in the report's by-method charts
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr', 'fg-activity']);
    expect(c.gradients.sweeps['fg-activity'][0].copies).toBe(2);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## fg-activity against its number of directions K/);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/Decorrelated inputs \(readout; .*\): gradients compared after 3 R-only updates/);
    expect(page).toMatch(/cosine to the BPTT gradient against K, by method/);
    expect(page).toContain('fg-activity (directions)');
  });

  it('compare --decorrelate none,all runs every method with and without decorrelation, side by side', async () => {
    const out = path.join(dir, 'compare-decor');
    const common = ['--epochs', '1', '--train-limit', '300', '--test-limit', '100', '--hidden', '16', '--seed', '3'];
    const r = await spikelr(
      'compare',
      ...common,
      '--decorrelate',
      'none,all',
      '--decorrelation-warmup',
      '3',
      '--gradient-batches',
      '2',
      '--copies-sweep',
      '2,8',
      '--sweep-draws',
      '2',
      '--attack-samples',
      '20',
      '--epsilons',
      '0',
      '--noise-levels',
      '0.2',
      '--pgd-iterations',
      '1',
      '--out',
      out,
      '--no-progress',
    );
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(c.methods).toEqual(['lr', 'bptt', 'lr+decor', 'bptt+decor']);
    expect(c.arms['lr+decor']).toEqual({ method: 'lr', decorrelate: 'all' });
    for (const arm of c.methods)
      expect(JSON.parse(readFileSync(path.join(out, arm, 'config.json'), 'utf8')).decorrelate, arm).toBe(arm.includes('+decor') ? 'all' : 'none');
    // each arm is the run spikelr train makes from the same config: the same weights, byte for byte
    const alone = path.join(dir, 'decor-alone');
    expect((await spikelr('train', '--method', 'lr', ...common, '--decorrelate', 'all', '--out', alone, '--no-progress')).code).toBe(0);
    expect(readFileSync(path.join(out, 'lr+decor', 'model.safetensors')).equals(readFileSync(path.join(alone, 'model.safetensors')))).toBe(true);
    // the gradients of both variants: LR's against each network's own BPTT gradient, K sweeps by arm
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr', 'lr+decor']);
    expect(c.gradients.methods['lr+decor'].map((l: { parameter: string }) => l.parameter)).toEqual(
      c.gradients.initial.map((l: { parameter: string }) => l.parameter),
    );
    expect(Object.keys(c.gradients.decorrelationWarmups)).toEqual(['all']);
    expect(Object.keys(c.gradients.trainedArms)).toEqual(['lr+decor']);
    expect(Object.keys(c.robustness.gaussian)).toEqual(c.methods);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/Decorrelated inputs \(all; .*in the arms named \+decor \(lr\+decor, bptt\+decor\): gradients compared after 3 R-only updates/);
    expect(md).toMatch(/## lr\+decor against its number of copies K/);
    const html = path.join(out, 'report.html');
    expect((await spikelr('report', out, '--out', html)).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('hidden: variance of one estimate against K');
    expect(page).toContain('lr+decor (copies)');
    expect((await spikelr('compare', '--decorrelate', 'none,some')).stderr).toMatch(
      /--decorrelate: unknown value 'some'; expected one or more of auto, none, readout, hidden, deep, all/,
    );
  });
});
