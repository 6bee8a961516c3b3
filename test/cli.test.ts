import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const main = path.resolve('dist/src/cli/main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-cli-'));

async function spikelr(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...args], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the spikelr command', () => {
  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build; npm test does it)`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('info names the backend, what was tried and the versions', async () => {
    const r = await spikelr('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend: wasm \(requested wasm via SPIKELR_BACKEND\)/);
    expect(r.stdout).toMatch(/ok\s+wasm: WebAssembly with SIMD/);
    expect(r.stdout).toMatch(/@tensorflow\/tfjs: 4\.22\.0/);
  });

  it('simulate runs MNIST digits through a network, saves it, and reloads it with the same result', async () => {
    const file = path.join(dir, 'net.safetensors');
    const a = await spikelr('simulate', '--hidden', '40', '--batch', '16', '--steps', '8', '--repeat', '1', '--noise', 'gaussian:0.3', '--save', file, '--json');
    expect(a.code).toBe(0);
    expect(a.stderr).toMatch(/^spikelr: backend wasm/m);
    const first = JSON.parse(a.stdout);
    expect(first).toMatchObject({ network: '784-40-10', backend: 'wasm', batch: 16, steps: 8 });
    expect(first.firingRate.hidden).toBeGreaterThan(0);
    const b = await spikelr('simulate', '--model', file, '--batch', '16', '--steps', '8', '--repeat', '1', '--noise', 'gaussian:0.3', '--json');
    expect(JSON.parse(b.stdout).firingRate).toEqual(first.firingRate);
    expect(JSON.parse(b.stdout).accuracy).toEqual(first.accuracy);
  });

  it.each([
    [['simulate', '--beta', '1.5'], /spikelr: error: lif: beta must be in \[0, 1\], got 1.5/],
    [['simulate', '--threshold', '0'], /spikelr: error: lif: threshold must be > 0, got 0/],
    [['simulate', '--reset', 'soft'], /option '--reset <mode>' argument 'soft' is invalid. Allowed choices are subtract, zero, none/],
    [['simulate', '--hidden', 'many'], /option '--hidden <n>' argument 'many' is invalid. expected an integer >= 1, got 'many'/],
    [['simulate', '--noise', 'cauchy:1'], /expected KIND:SIGMA with KIND one of gaussian, logistic, laplace/],
    [['--backend', 'gpu', 'info'], /option '--backend <name>' argument 'gpu' is invalid. Allowed choices are auto, tensorflow, wasm, cpu/],
    [['simulate', '--model', 'nowhere.safetensors'], /spikelr: error: nowhere.safetensors: no such model file/],
  ])('rejects %j with a message naming the problem and no stack trace', async (args, message) => {
    const r = await spikelr(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
