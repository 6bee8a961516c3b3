/**
 * Every stop is bounded: a run directory that cannot be created fails in seconds with one line
 * (Node's recursive mkdir spins forever under /proc and behind a dangling symlink; makeDirectory
 * does not), and a SIGTERM ends a run within its grace period even when the step or the checkpoint
 * write does not return, leaving the last checkpoint on disk whole.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory } from '../src/core/platform/node.js';
import { deserializeModel } from '../src/io/network-file.js';
import { main, spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-stops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rejects within `ms` (the recursive mkdir this replaces never settles). */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms))]);

describe('makeDirectory: mkdir -p that always ends', () => {
  it('creates the missing directories of a path, and accepts one that exists', async () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    await makeDirectory(deep);
    await makeDirectory(deep);
    expect(existsSync(deep)).toBe(true);
  });

  it.each<[string, () => string, RegExp]>([
    ['under /proc, where mkdir of the child says ENOENT', () => '/proc/spikelr-run/inner', /ENOENT/],
    [
      'behind a dangling symlink',
      () => {
        const link = path.join(dir, 'dangling');
        symlinkSync(path.join(dir, 'nowhere'), link);
        return path.join(link, 'run');
      },
      /ENOENT/,
    ],
    [
      'where a part of the path is a file',
      () => {
        const file = path.join(dir, 'a-file');
        writeFileSync(file, 'x');
        return path.join(file, 'run');
      },
      /ENOTDIR/,
    ],
  ])('refuses at once %s, naming the path', async (_, target, code) => {
    const p = target();
    await expect(within(makeDirectory(p), 2000)).rejects.toMatchObject({ code: expect.stringMatching(code), syscall: 'mkdir' });
  });
});

describe('spikelr train stops in bounded time', () => {
  it('--out under /proc exits 1 within 5 s with one line naming the path and the error', async () => {
    const started = performance.now();
    const r = await spikelr(
      'train',
      '--method',
      'bptt',
      '--train-limit',
      '128',
      '--test-limit',
      '100',
      '--max-steps',
      '1',
      '--no-progress',
      '--out',
      '/proc/spikelr-run',
    );
    expect((performance.now() - started) / 1000).toBeLessThan(5);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^spikelr: error: cannot create the directory \/proc\/spikelr-run: no such file or directory \(ENOENT\)$/m);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2); // the backend line and the error
  }, 30_000);

  it('a SIGTERM while a checkpoint write hangs ends the run after the grace period, with its code and the last checkpoint whole', async () => {
    const out = path.join(dir, 'term');
    // every write holds its temporary 60 s before the rename: the first checkpoint after the signal never completes in time
    const args = [
      'train',
      '--method',
      'bptt',
      '--train-limit',
      '256',
      '--test-limit',
      '50',
      '--hidden',
      '12',
      '--steps',
      '4',
      '--batch-size',
      '32',
      '--epochs',
      '1',
      '--checkpoint-every',
      '2',
      '--no-progress',
      '--out',
      out,
    ];
    const child = spawn(process.execPath, [main, ...args], {
      env: { ...process.env, SPIKELR_BACKEND: 'wasm', SPIKELR_FAULT_WRITE_DELAY_MS: '60000', SPIKELR_STOP_GRACE_S: '2' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // wait until the run is inside a write (its temporary exists), then signal
    const deadline = performance.now() + 30_000;
    while (!(existsSync(out) && readdirSync(out).some((f) => /\.tmp-\d+$/.test(f))) && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const signalled = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    const seconds = (performance.now() - signalled) / 1000;
    expect(code).toBe(128 + 15);
    expect(seconds).toBeLessThan(2 + 3); // the grace period and the process's exit
    expect(stderr).toMatch(/SIGTERM: the run did not stop within 2 s; exiting without a new checkpoint \(the last one on disk is intact\)/);
    // nothing complete was overwritten: a checkpoint there is whole
    if (existsSync(path.join(out, 'checkpoint.safetensors')))
      deserializeModel(readFileSync(path.join(out, 'checkpoint.safetensors')), 'checkpoint').net.dispose();
  }, 60_000);
});
