/** spikelr train's run directories: one run each, resume that changes nothing recorded, clear failures (issue 18). */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../src/data/idx.js';
import { main, spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-rundir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a run directory describes exactly one run', () => {
  const runArgs = ['train', '--method', 'bptt', '--train-limit', '256', '--test-limit', '50', '--steps', '5', '--batch-size', '32', '--no-progress'];
  const files = (d: string) =>
    Object.fromEntries(
      ['config.json', 'metrics.jsonl', 'metrics.json', 'checkpoint.safetensors', 'model.safetensors'].map((f) => [
        f,
        existsSync(path.join(d, f)) ? readFileSync(path.join(d, f)) : undefined,
      ]),
    );

  it('--force replaces the earlier run: none of its files survive, and a forced start that fails its checks leaves it whole', async () => {
    const out = path.join(dir, 'forced');
    expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '2', '--out', out)).code).toBe(0);
    const before = files(out);
    // a bad data folder is found before the directory is touched
    const bad = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', path.join(dir, 'no-such-data'), '--force', '--out', out);
    expect(bad.code).toBe(1);
    expect(files(out)).toEqual(before);
    // a new run with another network, killed before its first checkpoint, then resumed: it starts
    // again from its own config and ends where a clean run of that config ends, byte for byte
    const args = [...runArgs, '--hidden', '12', '--epochs', '6', '--checkpoint-every', '100000', '--force'];
    const child = spawn(process.execPath, [main, ...args, '--out', out], {
      env: { ...process.env, SPIKELR_BACKEND: 'wasm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const read = (f: string) => {
      try {
        return readFileSync(path.join(out, f), 'utf8');
      } catch {
        return '';
      }
    };
    // until the new run (its config says 12 units) has logged a step
    while (!/"hidden": \[\s*12\s*\]/.test(read('config.json')) || !/"type":"step"/.test(read('metrics.jsonl'))) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toMatch(/--force: removed the earlier run's files from/);
    expect(existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(false); // the old run's is gone, the new one wrote none yet
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).hidden).toEqual([12]);
    const resumed = await spikelr('train', '--resume', out, '--no-progress');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/stopped before its first checkpoint; starting it again from its config\.json/);
    const clean = path.join(dir, 'forced-clean');
    expect((await spikelr(...args, '--out', clean)).code).toBe(0);
    expect(readFileSync(path.join(out, 'model.safetensors')).equals(readFileSync(path.join(clean, 'model.safetensors')))).toBe(true);
    const log = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
    expect(log).not.toContain('\u0000');
    // the same records as the clean run's, but for the wall-clock times
    const untimed = (t: string) => t.replace(/"(seconds|trainSeconds)":[0-9.e+-]+/g, '"$1":0');
    expect(untimed(log)).toBe(untimed(readFileSync(path.join(clean, 'metrics.jsonl'), 'utf8')));
    expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')).history).toHaveLength(6);
  }, 120_000);

  it('bad data is found before anything is written: a misspelt data folder, train and test images of different sizes', async () => {
    const fresh = path.join(dir, 'never-written');
    const r = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', path.join(dir, 'no-such-data'), '--out', fresh);
    expect(r.code).toBe(1);
    expect(existsSync(path.join(fresh, 'config.json'))).toBe(false); // so a corrected command needs neither --resume nor --force
    const data = path.join(dir, 'mixed-idx');
    mkdirSync(data);
    const images = (n: number, side: number) => encodeIdx('uint8', [n, side, side], new Uint8Array(n * side * side).fill(7));
    writeFileSync(path.join(data, 'train-images-idx3-ubyte'), images(64, 28));
    writeFileSync(
      path.join(data, 'train-labels-idx1-ubyte'),
      encodeIdx(
        'uint8',
        [64],
        Array.from({ length: 64 }, (_, i) => i % 10),
      ),
    );
    writeFileSync(path.join(data, 't10k-images-idx3-ubyte'), images(16, 20));
    writeFileSync(
      path.join(data, 't10k-labels-idx1-ubyte'),
      encodeIdx(
        'uint8',
        [16],
        Array.from({ length: 16 }, (_, i) => i % 10),
      ),
    );
    const mixed = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', data, '--out', path.join(dir, 'mixed-run'));
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/idx: the training samples are 784 per step but the test samples 400; both splits must come from one dataset/);
    expect(existsSync(path.join(dir, 'mixed-run', 'config.json'))).toBe(false);
  });

  it("npm test's set-up step installs the Debian packages it needs, or says in one line how to", async () => {
    // no apt-get and no chromium: the line names the package and the command
    const bin = path.join(dir, 'bin-without-apt');
    mkdirSync(bin);
    symlinkSync('/usr/bin/id', path.join(bin, 'id'));
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('/bin/bash', ['scripts/system-deps.sh'], { env: { PATH: bin, CHROMIUM_PATH: path.join(dir, 'no-chromium') } });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      child.stderr.on('data', (d) => (out += String(d)));
      child.on('exit', (code) => resolve({ code, out }));
    });
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe('spikelr tests: chromium missing; the tests that need them will fail. Install with: sudo apt-get install chromium');
  });

  it('a run stopped by --max-steps says so, and resuming it changes nothing it recorded', async () => {
    const out = path.join(dir, 'max-steps');
    // 256 / 32 = 8 steps an epoch: 10 steps end in the second of 3 epochs
    expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '3', '--max-steps', '10', '--out', out)).code).toBe(0);
    const before = files(out);
    const metrics = JSON.parse(before['metrics.json']!.toString('utf8'));
    expect(metrics).toMatchObject({ stopped: 'max-steps', steps: 10 });
    expect(metrics.history.map((h: { steps: number }) => h.steps)).toEqual([8, 10]);
    const again = await spikelr('train', '--resume', out, '--no-progress');
    expect(again.code, again.stderr).toBe(0);
    expect(files(out)).toEqual(before);
    // one epoch cut short is stopped by max-steps too, not completed
    const one = path.join(dir, 'max-steps-1');
    expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '1', '--max-steps', '3', '--out', one)).code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(one, 'metrics.json'), 'utf8'))).toMatchObject({ stopped: 'max-steps', steps: 3 });
  }, 60_000);

  it('a diverging run stops with its last good checkpoint and says what to lower', async () => {
    const out = path.join(dir, 'diverged');
    // Adam at 10 sends BPTT's cross-entropy from 2.3 to ~100 within a few steps: finite, so only the rise shows it
    const r = await spikelr(...runArgs, '--hidden', '16', '--epochs', '4', '--learning-rate', '10', '--checkpoint-every', '4', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /training diverged at step (\d+): the mean loss of the last 10 steps, [0-9.e+]+, is over 10× the initial 2\.3\d\. The last checkpoint \(written every 4 steps\) is kept and no model was written; lower the learning rate \(now 10\): --learning-rate, then start again with --force/,
    );
    const at = Number(/diverged at step (\d+)/.exec(r.stderr)![1]);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
    expect(existsSync(path.join(out, 'metrics.json'))).toBe(false);
    const header = readFileSync(path.join(out, 'checkpoint.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'))['__metadata__'];
    expect(JSON.parse(meta.trainer).step).toBe(Math.floor((at - 1) / 4) * 4); // the last one before the diverged step
    // the same recipe at the default rate does not trip the check
    const ok = await spikelr(...runArgs, '--hidden', '16', '--epochs', '4', '--out', path.join(dir, 'not-diverged'));
    expect(ok.code, ok.stderr).toBe(0);
  }, 60_000);

  it('file-system failures are one line naming the path and the cause, exit 1', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = await spikelr(...runArgs, '--hidden', '8', '--max-steps', '1', '--out', path.join(file, 'run'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/spikelr: error: cannot create the directory .*a-file\/run: a part of the path is a file, not a directory \(ENOTDIR\)/);
    expect(r.stderr).not.toMatch(/internal error| {4}at /);
    const empty = await spikelr(...runArgs, '--out', '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/--out is empty; give the run directory/);
    const svg = await spikelr('raster', path.join(dir, 'max-steps'), '--svg', path.join(dir, 'no-such-folder', 'r.svg'));
    expect(svg.code).toBe(1);
    expect(svg.stderr).toMatch(/cannot open .*no-such-folder\/r\.svg: no such file or directory \(ENOENT\)/);
  }, 60_000);

  it('an unknown option is a short error with the nearest option, not the whole help', async () => {
    const r = await spikelr('train', '--learning-rat', '3');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown option '--learning-rat'\n\(Did you mean --learning-rate\?\)/);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
  });
});
