/**
 * The SHD loader on small files in SHD's layout, written by h5py (the HDF5 reference library,
 * Debian's python3-h5py, installed by .ci/run): spike times as half and single floats, binning
 * against hand-computed bins, and every way a file can be wrong.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binEvents, loadShd, readShdFile, SHD_CHANNELS } from '../src/data/shd.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-shd-'));
const PYTHON = '/usr/bin/python3';

/** Runs a Python snippet with h5py; `h5py` and `np` are imported. */
function h5py(code: string): void {
  try {
    execFileSync(PYTHON, ['-c', `import h5py, numpy as np\n${code}`], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `writing the test file with h5py failed (install Debian's python3-h5py: apt-get install python3-h5py):\n${String((err as { stderr?: Buffer }).stderr ?? err)}`,
    );
  }
}

/** An SHD-layout file: per-sample times (seconds) and units, and labels. */
function writeShd(file: string, samples: { times: number[]; units: number[] }[], labels: number[], timeType = 'float16'): void {
  h5py(`
f = h5py.File(${JSON.stringify(file)}, 'w')
s = f.create_group('spikes')
t = s.create_dataset('times', (${samples.length},), dtype=h5py.vlen_dtype(np.dtype('${timeType}')))
u = s.create_dataset('units', (${samples.length},), dtype=h5py.vlen_dtype(np.dtype('uint16')))
${samples.map((x, i) => `t[${i}] = np.array(${JSON.stringify(x.times)}, dtype='${timeType}')\nu[${i}] = np.array(${JSON.stringify(x.units)}, dtype='uint16')`).join('\n')}
f.create_dataset('labels', data=np.array(${JSON.stringify(labels)}, dtype='uint16'))
f.close()
`);
}

// times exactly representable in half precision (multiples of 2^-10 below 1)
const samples = [
  { times: [0, 0.0625, 0.5, 0.5, 1.3125, 1.5], units: [3, 699, 0, 0, 42, 7] },
  { times: [0.25], units: [5] },
  { times: [], units: [] },
];

describe('Spiking Heidelberg Digits', () => {
  beforeAll(() => {
    mkdirSync(path.join(dir, 'ok'));
    writeShd(path.join(dir, 'ok', 'shd_train.h5'), samples, [7, 19, 0]);
    writeShd(path.join(dir, 'ok', 'shd_test.h5'), samples.slice(0, 2), [1, 2], 'float32');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads half-float and single-float spike times, units and labels', async () => {
    const train = await readShdFile(path.join(dir, 'ok', 'shd_train.h5'));
    expect(Array.from(train.labels)).toEqual([7, 19, 0]);
    expect(train.times.map((t) => Array.from(t))).toEqual(samples.map((s) => s.times));
    expect(train.units.map((u) => Array.from(u))).toEqual(samples.map((s) => s.units));
    const test = await readShdFile(path.join(dir, 'ok', 'shd_test.h5'));
    expect(test.times.map((t) => Array.from(t))).toEqual(samples.slice(0, 2).map((s) => s.times));
  });

  it('bins spikes into steps of duration/T, drops those after the duration, clips counts to 1 unless asked', async () => {
    // T = 4 bins of 0.35 s over 1.4 s: t = 0, 0.0625 → bin 0; 0.5 → bin 1; 1.3125 → bin 3; 1.5 is dropped
    const data = await loadShd(path.join(dir, 'ok'), 'train', { steps: 4 });
    const x = data.batch([0, 1], 0);
    expect(x.shape).toEqual([2, 4, SHD_CHANNELS]);
    const v = x.dataSync();
    const on = (b: number) =>
      Array.from(v.subarray(b * 4 * SHD_CHANNELS, (b + 1) * 4 * SHD_CHANNELS)).flatMap((s, i) =>
        s ? [[Math.floor(i / SHD_CHANNELS), i % SHD_CHANNELS, s]] : [],
      );
    expect(on(0)).toEqual([
      [0, 3, 1],
      [0, 699, 1],
      [1, 0, 1],
      [3, 42, 1],
    ]);
    expect(on(1)).toEqual([[0, 5, 1]]);
    x.dispose();
    const counts = binEvents(Float32Array.from(samples[0]!.times), Int32Array.from(samples[0]!.units), { steps: 4, duration: 1.4, binary: false });
    expect(counts[1 * SHD_CHANNELS + 0]).toBe(2);
    expect(data.labels).toEqual(Int32Array.from([7, 19, 0]));
    expect([data.classes, data.steps, data.count]).toEqual([20, 4, 3]);
  });

  describe('bad files', () => {
    const bad = (name: string) => path.join(dir, name);
    it('a missing file names where it was looked for', async () => {
      await expect(loadShd(path.join(dir, 'nowhere'), 'train', { steps: 4 })).rejects.toThrow(/SHD: .*nowhere\/shd_train\.h5 not found/);
    });
    it('a compressed download says to decompress it', async () => {
      mkdirSync(bad('gz'));
      writeFileSync(path.join(bad('gz'), 'shd_train.h5.gz'), 'x');
      await expect(loadShd(bad('gz'), 'train', { steps: 4 })).rejects.toThrow(/shd_train\.h5\.gz is there: decompress it with gunzip/);
    });
    it('a file that is not HDF5', async () => {
      writeFileSync(bad('text.h5'), 'hello, not hdf5');
      await expect(readShdFile(bad('text.h5'))).rejects.toThrow(/text\.h5 is not an HDF5 file/);
    });
    it('a file without the spike datasets', async () => {
      h5py(`f = h5py.File(${JSON.stringify(bad('empty.h5'))}, 'w'); f.create_dataset('labels', data=np.zeros(2, dtype='uint16')); f.close()`);
      await expect(readShdFile(bad('empty.h5'))).rejects.toThrow(
        /has no dataset \/spikes\/times; an SHD file has \/spikes\/times, \/spikes\/units and \/labels/,
      );
    });
    it('mismatched times and units, units out of range, labels out of range, too few labels', async () => {
      writeShd(bad('mismatch.h5'), [{ times: [0.5, 0.25], units: [1] }], [0]);
      await expect(readShdFile(bad('mismatch.h5'))).rejects.toThrow(/sample 0 has 2 spike times but 1 units/);
      writeShd(bad('unit.h5'), [{ times: [0.5], units: [700] }], [0]);
      await expect(readShdFile(bad('unit.h5'))).rejects.toThrow(/sample 0 has unit 700 outside 0…699/);
      writeShd(bad('label.h5'), [{ times: [0.5], units: [1] }], [20]);
      await expect(readShdFile(bad('label.h5'))).rejects.toThrow(/label 20 of sample 0 is not a class in 0…19/);
      writeShd(
        bad('count.h5'),
        [
          { times: [0.5], units: [1] },
          { times: [0.5], units: [1] },
        ],
        [1],
      );
      await expect(readShdFile(bad('count.h5'))).rejects.toThrow(/2 spike-time rows, 2 unit rows and 1 labels/);
    });
  });
});
