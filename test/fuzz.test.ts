/**
 * Every file loader fed random, truncated and corrupted bytes: each case either loads or fails with
 * a SpikelrError that names the file — never another exception (a TypeError or RangeError from deep
 * inside), a hang, a crash of the process or an out-of-memory. Cases are drawn from a seeded
 * generator; SPIKELR_SOAK=1 runs 20× more. The HDF5 (SHD) cases need Debian's python3-h5py to write
 * the file the mutations start from, as test/shd.test.ts does.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../src/cli/config.js';
import { encodeIdx, parseIdx, readIdx } from '../src/data/idx.js';
import { encodeNmnistEvents, parseNmnistEvents } from '../src/data/nmnist.js';
import { readShdFile } from '../src/data/shd.js';
import { SpikelrError } from '../src/core/errors.js';
import { lif, synaptic } from '../src/neurons/params.js';
import { deserializeModel, serializeNetwork } from '../src/io/network-file.js';
import { conv2d, dense, flatten, readout, recurrent } from '../src/sim/layer.js';
import { exportNir, importNir } from '../src/io/nir/index.js';
import { Network } from '../src/sim/network.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Cases per loader: enough to reach every kind of mutation many times; a soak draws 20× more. */
const FUZZ_CASES = process.env['SPIKELR_SOAK'] ? 4000 : 200;
/**
 * A case that takes longer than this counts as a hang. The slowest seen: a corrupted HDF5 heap
 * length that h5wasm tries to honour before aborting, 4 s alone and 12 s beside other work.
 */
const CASE_MS = 30_000;

/** mulberry32: a small seeded generator, so every failing case can be replayed from its number. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One corruption of `valid`: truncated, bits flipped, a span overwritten, a length field blown up, bytes appended, or noise. */
function mutate(valid: Uint8Array, random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const out = Uint8Array.from(valid);
  switch (int(6)) {
    case 0:
      return valid.slice(0, int(valid.length));
    case 1:
      for (let k = 1 + int(8); k > 0; k--) {
        const i = int(out.length);
        out[i] = out[i]! ^ (1 << int(8));
      }
      return out;
    case 2: {
      const at = int(out.length),
        span = 1 + int(16);
      for (let i = at; i < Math.min(out.length, at + span); i++) out[i] = int(256);
      return out;
    }
    case 3: {
      // a header field (a length, a dimension, an offset) near the start set to something huge
      const at = int(Math.min(out.length - 4, 64));
      new DataView(out.buffer).setUint32(Math.max(0, at), [0xffffffff, 0x7fffffff, 0x10000000, 1 + int(1 << 20)][int(4)]!, random() < 0.5);
      return out;
    }
    case 4: {
      const tail = Uint8Array.from({ length: 1 + int(64) }, () => int(256));
      const grown = new Uint8Array(out.length + tail.length);
      grown.set(out);
      grown.set(tail, out.length);
      return grown;
    }
    default:
      return Uint8Array.from({ length: int(2 * valid.length + 8) }, () => int(256));
  }
}

/**
 * Runs `load` on FUZZ_CASES corruptions of `valid`: each must finish in time and either succeed or
 * throw a SpikelrError whose message names `name`. Returns how many loaded and how many were refused.
 */
async function fuzz(
  name: string,
  valid: Uint8Array,
  load: (bytes: Uint8Array, i: number) => unknown,
  seed: number,
): Promise<{ loaded: number; refused: number }> {
  await load(valid, -1); // the uncorrupted file loads
  const random = generator(seed);
  let loaded = 0,
    refused = 0;
  for (let i = 0; i < FUZZ_CASES; i++) {
    const bytes = mutate(valid, random);
    const started = performance.now();
    try {
      await load(bytes, i);
      loaded++;
    } catch (err) {
      if (!(err instanceof SpikelrError))
        throw new Error(`${name}, case ${i} (seed ${seed}, ${bytes.length} bytes): ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      expect(err.message, `case ${i}`).toContain(name);
      refused++;
    }
    expect(performance.now() - started, `${name}, case ${i}: took too long`).toBeLessThan(CASE_MS);
  }
  return { loaded, refused };
}

describe(`fuzzing every file loader (${FUZZ_CASES} corrupted files each)`, () => {
  it('IDX, raw and gzip-compressed', async () => {
    const raw = encodeIdx(
      'float32',
      [3, 4, 5],
      Array.from({ length: 60 }, (_, i) => i / 7),
    );
    const r1 = await fuzz('images-idx3', raw, (b) => parseIdx(b, 'images-idx3'), 1);
    const file = path.join(dir, 'labels-idx1-ubyte.gz');
    const r2 = await fuzz(
      'labels-idx1-ubyte.gz',
      gzipSync(
        encodeIdx(
          'uint8',
          [40],
          Array.from({ length: 40 }, (_, i) => i % 10),
        ),
      ),
      async (b) => {
        writeFileSync(file, b);
        return readIdx(file);
      },
      2,
    );
    expect(r1.refused + r2.refused).toBeGreaterThan(FUZZ_CASES); // most corruptions are caught, not read as data
  });

  it('N-MNIST events', async () => {
    const n = 50,
      random = generator(9);
    const valid = encodeNmnistEvents({
      x: Uint8Array.from({ length: n }, () => Math.floor(random() * 34)),
      y: Uint8Array.from({ length: n }, () => Math.floor(random() * 34)),
      polarity: Uint8Array.from({ length: n }, () => (random() < 0.5 ? 1 : 0)),
      t: Float64Array.from({ length: n }, (_, i) => i * 1000),
    });
    const r = await fuzz('00001.bin', valid, (b) => parseNmnistEvents(b, '00001.bin'), 3);
    expect(r.refused).toBeGreaterThan(0);
  });

  it('model files (safetensors): weights, header and topology', async () => {
    const net = new Network({
      input: [6, 6, 1],
      layers: [
        conv2d({ name: 'c', filters: 2, kernelSize: 3, neuron: lif() }),
        flatten(),
        dense({ name: 'h', units: 4, decorrelate: true }),
        readout({ name: 'o', units: 3 }),
      ],
      seed: 1,
    });
    const valid = await serializeNetwork(net);
    net.dispose();
    const before = tf.memory().numTensors;
    const r = await fuzz('model.safetensors', valid, (b) => deserializeModel(b, 'model.safetensors').net.dispose(), 4);
    // every checksum-covered byte: a corruption that still loads must have left the file's meaning intact
    expect(r.refused).toBeGreaterThan(FUZZ_CASES * 0.9);
    expect(tf.memory().numTensors).toBe(before); // a refused file leaves no variables behind
  });

  it('config files (JSON)', async () => {
    const valid = new TextEncoder().encode(
      JSON.stringify({ method: 'bptt', hidden: [64, 32], conv: '4c5-p2', learningRate: 0.001, epochs: 2, decorrelate: 'all', schedule: 'cosine' }, null, 2),
    );
    const file = path.join(dir, 'my-config.json');
    await fuzz(
      'my-config.json',
      valid,
      async (b) => {
        writeFileSync(file, b);
        return readConfigFile(file);
      },
      5,
    );
  });

  it('SHD files (HDF5, read by h5wasm)', async () => {
    const file = path.join(dir, 'shd_train.h5');
    try {
      execFileSync(
        '/usr/bin/python3',
        [
          '-c',
          `import h5py, numpy as np
f = h5py.File(${JSON.stringify(file)}, 'w')
s = f.create_group('spikes')
t = s.create_dataset('times', (3,), dtype=h5py.vlen_dtype(np.dtype('float16')))
u = s.create_dataset('units', (3,), dtype=h5py.vlen_dtype(np.dtype('uint16')))
for i in range(3):
    t[i] = np.linspace(0, 1, 5 + i).astype('float16')
    u[i] = np.arange(5 + i, dtype='uint16') * 7
f.create_dataset('labels', data=np.array([1, 5, 19], dtype='uint16'))
f.close()`,
        ],
        { stdio: 'pipe' },
      );
    } catch (err) {
      throw new Error(
        `writing the HDF5 file with h5py failed (install Debian's python3-h5py: apt-get install python3-h5py):\n${String((err as { stderr?: Buffer }).stderr ?? err)}`,
      );
    }
    const valid = Uint8Array.from(readFileSync(file));
    const target = path.join(dir, 'fuzzed.h5');
    await fuzz(
      'fuzzed.h5',
      valid,
      async (b) => {
        writeFileSync(target, b);
        return readShdFile(target);
      },
      6,
    );
  }, 120_000);

  it('NIR files (HDF5: the graph, its nodes and parameters)', async () => {
    const net = new Network({
      input: [5, 5, 1],
      seed: 2,
      layers: [
        conv2d({ name: 'c', filters: 2, kernelSize: 3, padding: 1, neuron: lif({ reset: 'zero' }), learn: ['threshold'] }),
        flatten(),
        recurrent({ name: 'r', units: 4, neuron: synaptic({ reset: 'zero' }), recurrentBias: true }),
        readout({ name: 'o', units: 3 }),
      ],
    });
    const source = path.join(dir, 'valid.nir');
    await exportNir(net, source);
    net.dispose();
    const valid = Uint8Array.from(readFileSync(source));
    const target = path.join(dir, 'fuzzed.nir');
    const before = tf.memory().numTensors;
    const r = await fuzz(
      'fuzzed.nir',
      valid,
      async (b) => {
        writeFileSync(target, b);
        (await importNir(target)).net.dispose();
      },
      7,
    );
    expect(r.refused).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before); // a refused graph leaves no variables behind
  }, 120_000);
});
