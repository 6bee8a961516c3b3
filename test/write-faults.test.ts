/**
 * Every command that writes fails the same way when the file system refuses: exit 1 within 5 s,
 * one line naming the path and the system's error, and nothing the run already had is lost. The
 * places: a path under /proc (mkdir there says ENOENT, and Node's own recursive mkdir would spin
 * forever), a file where a directory is expected (ENOTDIR), and a full disk (the file's write sent
 * to /dev/full by SPIKELR_FAULT_FULL_DISK: ENOSPC from the kernel), and a run directory
 * bind-mounted read-only on resume (EROFS). (A directory without write permission cannot be tested
 * as root, which CI is: root writes through it.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, spikelr, spikelrWith } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-write-faults-'));
const run = path.join(dir, 'run');
const tiny = ['--train-limit', '64', '--test-limit', '32', '--hidden', '8', '--steps', '3', '--batch-size', '32', '--no-progress'];
let checkpoint: Buffer;

beforeAll(async () => {
  const r = await spikelr('train', '--method', 'bptt', ...tiny, '--out', run);
  expect(r.code, r.stderr).toBe(0);
  checkpoint = readFileSync(path.join(run, 'checkpoint.safetensors'));
  writeFileSync(path.join(dir, 'a-file'), 'not a directory');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// a command that writes into a directory creates it (train, finetune, compare, report --figures); one that writes a file names the file
const places = {
  proc: {
    at: '/proc/spikelr-faults/out',
    error:
      /(cannot create the directory|cannot open|cannot write) \/proc\/spikelr-faults\S*: no such file or directory \(ENOENT\)|NIR: cannot write \/proc\/spikelr-faults\/out\/net\.nir: its folder \/proc\/spikelr-faults\/out does not exist/,
  },
  file: {
    at: () => path.join(dir, 'a-file', 'out'),
    error:
      /(cannot create the directory|cannot open) \S*a-file\/out\S*: (a part of the path is a file, not a directory \(ENOTDIR\)|no such file or directory \(ENOENT\))|NIR: cannot write \S*a-file\/out\/net\.nir: its folder \S*a-file\/out does not exist/,
  },
} as const;
const where = (p: (typeof places)[keyof typeof places]) => (typeof p.at === 'function' ? p.at() : p.at);

describe('commands that write, when the file system refuses', () => {
  const cases: [string, (out: string) => string[], keyof typeof places][] = [];
  for (const place of Object.keys(places) as (keyof typeof places)[]) {
    cases.push(
      ['train --out', (out) => ['train', '--method', 'bptt', ...tiny, '--out', out], place],
      ['finetune --out', (out) => ['finetune', run, '--deploy', 'weights=4', '--max-steps', '1', ...tiny, '--out', out], place],
      ['compare --out', (out) => ['compare', '--methods', 'lr,bptt', ...tiny, '--gradient-batches', '1', '--max-steps', '1', '--out', out], place],
      ['export --nir', (out) => ['export', run, '--deterministic', '--reset-metadata', '--nir', path.join(out, 'net.nir')], place],
      ['report --figures', (out) => ['report', run, '--figures', out], place],
      ['raster --out', (out) => ['raster', run, '--out', path.join(out, 'raster.html')], place],
    );
  }
  it.each(cases)(
    '%s under a %s path: exit 1 within 5 s, one line naming the path and the error',
    async (_, argsOf, place) => {
      const started = performance.now();
      const r = await spikelr(...argsOf(where(places[place])));
      expect((performance.now() - started) / 1000).toBeLessThan(5);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(places[place].error);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('spikelr: error')).length,
      ).toBe(1);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    },
    30_000,
  );

  // SPIKELR_FAULT_FULL_DISK: the writes of files whose name matches go to /dev/full (a real ENOSPC from the kernel)
  it.each([
    ['train --resume, its checkpoint', ['train', '--resume', run, '--no-progress'], 'checkpoint\\.safetensors'],
    ['report --out', ['report', run, '--out', path.join(dir, 'report.html')], 'report\\.html'],
    [
      'compare --out, its report',
      ['compare', '--methods', 'lr,bptt', ...tiny, '--gradient-batches', '1', '--max-steps', '1', '--out', path.join(dir, 'cmp')],
      'compare\\.json',
    ],
  ] as const)(
    '%s onto a full disk: exit 1 naming the file and ENOSPC, and the last checkpoint intact',
    async (_, args, name) => {
      const r = await spikelrWith({ SPIKELR_FAULT_FULL_DISK: `^${name}$` }, ...args);
      // (NIR files are written by the HDF5 library itself, past this hook)
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`spikelr: error: cannot write \\S*${name}: no space left on the device \\(ENOSPC\\)`));
      expect(readFileSync(path.join(run, 'checkpoint.safetensors')).equals(checkpoint)).toBe(true);
    },
    60_000,
  );
});

/** Whether this machine lets a process bind-mount in a mount namespace of its own (root, as CI is). */
const canUnshare = spawnSync('unshare', ['-m', 'true']).status === 0;

describe('a run directory on a read-only file system', () => {
  it.skipIf(!canUnshare)(
    'resume exits 1 within 5 s naming the file and EROFS, and the checkpoint stays as it was',
    async () => {
      const out = path.join(dir, 'readonly');
      const r0 = await spikelr('train', '--method', 'bptt', ...tiny, '--epochs', '2', '--max-steps', '1', '--checkpoint-every', '1', '--out', out);
      expect(r0.code, r0.stderr).toBe(0);
      const before = readFileSync(path.join(out, 'checkpoint.safetensors'));
      // the run directory bind-mounted read-only over itself, in a mount namespace of the command's own
      const started = performance.now();
      const r = spawnSync(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" "$3" train --resume "$1" --no-progress`,
          'sh',
          out,
          process.execPath,
          main,
        ],
        { encoding: 'utf8', env: { ...process.env, SPIKELR_BACKEND: 'wasm' } },
      );
      expect((performance.now() - started) / 1000).toBeLessThan(5);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^spikelr: error: cannot (open|write|create the directory) \S+: the file system is read-only \(EROFS\)$/m);
      expect(readFileSync(path.join(out, 'checkpoint.safetensors')).equals(before)).toBe(true);
    },
    60_000,
  );
});
