/**
 * The backend self-checks (src/learning/checks.ts) that the web page and the browser tests run on webgl and
 * webgpu: here on wasm and cpu, where they must pass, and with a known-biased estimator
 * (sign-compressed scores under logistic noise), where the LR check must fail — it can see a bias.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { backendChecks, checkLrUnbiased } from '../src/learning/checks.js';

describe('backend self-checks', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  it.each(['wasm', 'cpu'])('pass on %s', async (backend) => {
    await initBackend({ backend, log: null });
    const results = await backendChecks();
    expect(results.map((r) => r.name)).toEqual(['lif', 'lr-unbiased', 'lr-constant-input', 'bptt-gradient']);
    for (const r of results) {
      expect(r.ok, `${r.name}: ${r.detail}`).toBe(true);
      expect(r.backend).toBe(backend);
    }
  });

  it('the LR check fails for approximated LR, which is biased under logistic noise', async () => {
    await initBackend({ backend: 'wasm', log: null });
    const r = await checkLrUnbiased({ signScores: true });
    expect(r.ok, r.detail).toBe(false);
    expect(r.detail).toMatch(/squared distance (\d+\.\d+)× its expected value/);
    expect(Number(/distance (\d+\.\d+)×/.exec(r.detail)![1])).toBeGreaterThan(4);
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });
});
