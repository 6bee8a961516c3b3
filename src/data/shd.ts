/**
 * The Spiking Heidelberg Digits (Cramer et al. 2020): spoken digits as spikes of 700 cochlear
 * channels, 20 classes, one HDF5 file per split (`shd_train.h5`, `shd_test.h5`) holding
 *   /spikes/times  variable-length float arrays, spike times in seconds, one array per sample
 *   /spikes/units  variable-length integer arrays, the channel (0…699) of each spike
 *   /labels        integers, the class of each sample.
 * Read with h5wasm. Samples stay as event lists (a dense [8156, T, 700] array would take gigabytes);
 * a batch is binned into T steps of `duration / T` seconds when asked for.
 */
import * as tf from '@tensorflow/tfjs';
import nodeFs, { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { check, checkInteger, checkPositive, SpikelrError } from '../errors.js';
import type { Dataset } from './dataset.js';

export const SHD_CHANNELS = 700;
export const SHD_CLASSES = 20;

export interface SpikeEvents {
  /** Spike times in seconds, one array per sample. */
  readonly times: Float32Array[];
  /** Channel of each spike. */
  readonly units: Int32Array[];
  readonly labels: Int32Array;
}

interface H5Module {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  get_dataset_data(file: bigint, path: string, count: bigint[], offset: bigint[], strides: bigint[], ptr: bigint): void;
  reclaim_vlen_memory_count(file: bigint, path: string, attr: string, ptr: bigint, count: bigint[]): void;
}
interface H5Dataset {
  readonly file_id: bigint;
  readonly path: string;
  readonly shape: number[] | null;
  readonly metadata: { type: number; size: number; signed: boolean; vlen_type?: { type: number; size: number } };
  readonly value: unknown;
}
interface H5File {
  get(path: string): H5Dataset | unknown;
  close(): void;
}

const H5T_FLOAT = 1, H5T_VLEN = 9;

/** IEEE 754 half precision to a number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * A variable-length numeric dataset as one array per row. h5wasm decodes float32/64 and integers;
 * half floats (which it rejects) are read raw from its heap and decoded here.
 */
function readVlen(module: H5Module, d: H5Dataset): number[][] | ArrayLike<number>[] {
  const base = d.metadata.vlen_type!;
  if (!(base.type === H5T_FLOAT && base.size === 2)) return d.value as ArrayLike<number>[];
  const n = d.shape![0]!;
  const bytes = d.metadata.size * n;
  const ptr = module._malloc(bytes);
  const count = [BigInt(n)];
  try {
    module.get_dataset_data(d.file_id, d.path, count, [0n], [1n], BigInt(ptr));
    const pairs = new Uint32Array(module.HEAPU8.slice(ptr, ptr + bytes).buffer); // hvl_t: (length, pointer)
    return Array.from({ length: n }, (_, i) => {
      const len = pairs[2 * i]!, at = pairs[2 * i + 1]!;
      const halves = new Uint16Array(module.HEAPU8.slice(at, at + 2 * len).buffer);
      return Array.from(halves, halfToNumber);
    });
  } finally {
    module.reclaim_vlen_memory_count(d.file_id, d.path, '', BigInt(ptr), count);
    module._free(ptr);
  }
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The HDF5 superblock signature sits at byte 0, 512, 1024 or 2048 (a user block may precede it). */
async function hasHdf5Signature(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return [0, 512, 1024, 2048].some((at) => at + 8 <= bytesRead && head.subarray(at, at + 8).equals(SIGNATURE));
  } finally {
    await handle.close();
  }
}

type H5 = { ready: Promise<H5Module>; File: new (p: string, mode: string) => H5File };
let h5: Promise<H5> | undefined;
let instances = 0;

/**
 * h5wasm, loaded once; after the HDF5 library aborts on a corrupt file its wasm instance is dead,
 * so the next read loads a fresh one (a new module URL is a new instance).
 */
function h5wasm(): Promise<H5> {
  h5 ??= (async () => {
    const url = import.meta.resolve('h5wasm/node');
    const m = (await import(instances++ === 0 ? url : `${url}?instance=${instances}`)) as unknown as H5;
    await m.ready;
    return m;
  })();
  return h5;
}

/** Whether the HDF5 library's wasm instance aborted (it is dead from then on). */
const isAbort = (err: unknown) => (err as Error)?.constructor?.name === 'RuntimeError' || /Aborted\(/.test(String((err as Error)?.message));

/**
 * Runs `f` with what the HDF5 library prints to stderr held back (h5wasm writes its error stack
 * there, through fs.writeSync): a file it refuses becomes one error naming the file and HDF5's own reason, not a page of
 * diagnostics. A wasm abort marks the library instance dead.
 */
function quietly<T>(file: string, f: () => T): T {
  // the wasm build writes to file descriptor 2 with fs.writeSync
  const writeSync = nodeFs.writeSync;
  let diagnostics = '';
  nodeFs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    if (typeof data === 'string') return (diagnostics += data), data.length;
    const offset = typeof rest[0] === 'number' ? rest[0] : 0, length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
    diagnostics += Buffer.from(data.buffer, data.byteOffset + offset, length).toString('utf8');
    return length;
  }) as typeof nodeFs.writeSync;
  // and its abort message with console.error
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((diagnostics += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return f();
  } catch (err) {
    if (err instanceof SpikelrError) throw err;
    const aborted = isAbort(err);
    if (aborted) h5 = undefined;
    const reason = /minor: (.*)/.exec(diagnostics)?.[1]?.trim() ?? /#\d+: .*? line \d+ in [^:]*: (.*)/.exec(diagnostics)?.[1]?.trim() ?? (err as Error)?.message;
    throw new SpikelrError(`SHD: ${file} is corrupt or not an SHD file: the HDF5 reader ${aborted ? 'aborted' : 'failed'} on it (${reason})`);
  } finally {
    nodeFs.writeSync = writeSync;
    process.stderr.write = write;
  }
}

/** Reads one SHD file. */
export async function readShdFile(file: string): Promise<SpikeEvents> {
  if (!existsSync(file)) {
    throw new SpikelrError(`SHD: ${file} not found${existsSync(`${file}.gz`) ? ` (${file}.gz is there: decompress it with gunzip)` : ' (the files shd_train.h5 and shd_test.h5 of the SHD download)'}`);
  }
  if (!(await hasHdf5Signature(file))) throw new SpikelrError(`SHD: ${file} is not an HDF5 file (no HDF5 signature in its first 4 KB)`);
  const lib = await h5wasm();
  const module = await lib.ready;
  return quietly(file, () => {
    let f: H5File;
    try {
      f = new lib.File(file, 'r');
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new SpikelrError(`SHD: ${file} is not an HDF5 file (${(err as Error).message})`);
    }
    let closed = false;
    try {
      const dataset = (name: string, vlen: boolean): H5Dataset => {
        const d = f.get(name) as H5Dataset | null | undefined;
        if (!d || typeof d !== 'object' || !('metadata' in d)) throw new SpikelrError(`SHD: ${file} has no dataset /${name}; an SHD file has /spikes/times, /spikes/units and /labels`);
        const isVlen = d.metadata.type === H5T_VLEN;
        check(isVlen === vlen && d.shape?.length === 1, () => `SHD: ${file}: /${name} must be a 1-D ${vlen ? 'variable-length array' : 'integer'} dataset, got ${isVlen ? 'variable-length' : `type ${d.metadata.type}`} of shape [${d.shape?.join(', ')}]`);
        return d;
      };
      const times = readVlen(module, dataset('spikes/times', true));
      const units = readVlen(module, dataset('spikes/units', true));
      const labels = Int32Array.from(dataset('labels', false).value as ArrayLike<number>);
      check(times.length === labels.length && units.length === labels.length, () => `SHD: ${file}: ${times.length} spike-time rows, ${units.length} unit rows and ${labels.length} labels; they must match`);
      const out: SpikeEvents = { times: [], units: [], labels };
      for (let i = 0; i < labels.length; i++) {
        const t = Float32Array.from(times[i]!), u = Int32Array.from(units[i]!);
        check(t.length === u.length, () => `SHD: ${file}: sample ${i} has ${t.length} spike times but ${u.length} units`);
        const badUnit = u.findIndex((x) => x < 0 || x >= SHD_CHANNELS);
        check(badUnit < 0, () => `SHD: ${file}: sample ${i} has unit ${u[badUnit]} outside 0…${SHD_CHANNELS - 1}`);
        const badTime = t.findIndex((x) => !(x >= 0));
        check(badTime < 0, () => `SHD: ${file}: sample ${i} has spike time ${t[badTime]} (times are seconds >= 0)`);
        out.times.push(t);
        out.units.push(u);
      }
      const badLabel = labels.findIndex((y) => y < 0 || y >= SHD_CLASSES);
      check(badLabel < 0, () => `SHD: ${file}: label ${labels[badLabel]} of sample ${badLabel} is not a class in 0…${SHD_CLASSES - 1}`);
      f.close();
      closed = true;
      return out;
    } finally {
      if (!closed) {
        try {
          f.close();
        } catch {
          // after an abort the library can close nothing; the first error is the one to report
        }
      }
    }
  });
}

/**
 * Spikes binned into `steps` bins of `duration / steps` seconds, `[steps, 700]` row-major; spikes
 * after `duration` are dropped; `binary` (default) clips a bin's count to 1.
 */
export function binEvents(times: Float32Array, units: Int32Array, o: { readonly steps: number; readonly duration: number; readonly binary?: boolean }, out = new Float32Array(o.steps * SHD_CHANNELS)): Float32Array {
  for (let i = 0; i < times.length; i++) {
    const bin = Math.floor((times[i]! / o.duration) * o.steps);
    if (bin >= o.steps) continue;
    const at = bin * SHD_CHANNELS + units[i]!;
    out[at] = o.binary === false ? out[at]! + 1 : 1;
  }
  return out;
}

/** A split of SHD from `dir` as a {@link Dataset} of `steps` bins over `duration` seconds (default 1.4). */
export async function loadShd(dir: string, split: 'train' | 'test', o: { readonly steps: number; readonly duration?: number; readonly binary?: boolean }): Promise<Dataset & { readonly events: SpikeEvents }> {
  checkInteger('SHD', 'steps', o.steps, 1);
  const duration = o.duration ?? 1.4;
  checkPositive('SHD', 'duration', duration);
  const events = await readShdFile(path.join(dir, `shd_${split}.h5`));
  const per = o.steps * SHD_CHANNELS;
  return {
    events,
    count: events.labels.length,
    labels: events.labels,
    classes: SHD_CLASSES,
    inputShape: [SHD_CHANNELS],
    steps: o.steps,
    batch(indices) {
      const buf = new Float32Array(indices.length * per);
      for (let i = 0; i < indices.length; i++) {
        const s = indices[i]!;
        binEvents(events.times[s]!, events.units[s]!, { steps: o.steps, duration, ...(o.binary !== undefined ? { binary: o.binary } : {}) }, buf.subarray(i * per, (i + 1) * per));
      }
      return tf.tensor(buf, [indices.length, o.steps, SHD_CHANNELS]);
    },
  };
}
