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
import { existsSync } from 'node:fs';
import path from 'node:path';
import { check, checkInteger, checkPositive, SpikelrError } from '../core/errors.js';
import { hasHdf5Signature, h5wasm, isAbort, quietly } from '../io/hdf5.js';
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

const H5T_FLOAT = 1,
  H5T_VLEN = 9;

/** IEEE 754 half precision to a number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1,
    exp = (h >> 10) & 0x1f,
    frac = h & 0x3ff;
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
      const len = pairs[2 * i]!,
        at = pairs[2 * i + 1]!;
      const halves = new Uint16Array(module.HEAPU8.slice(at, at + 2 * len).buffer);
      return Array.from(halves, halfToNumber);
    });
  } finally {
    module.reclaim_vlen_memory_count(d.file_id, d.path, '', BigInt(ptr), count);
    module._free(ptr);
  }
}

/** Reads one SHD file. */
export async function readShdFile(file: string): Promise<SpikeEvents> {
  if (!existsSync(file)) {
    throw new SpikelrError(
      `SHD: ${file} not found${existsSync(`${file}.gz`) ? ` (${file}.gz is there: decompress it with gunzip)` : ' (the files shd_train.h5 and shd_test.h5 of the SHD download)'}`,
    );
  }
  if (!(await hasHdf5Signature(file))) throw new SpikelrError(`SHD: ${file} is not an HDF5 file (no HDF5 signature in its first 4 KB)`);
  const lib = await h5wasm();
  const module = await lib.ready;
  return quietly(
    (reason, aborted) => `SHD: ${file} is corrupt or not an SHD file: the HDF5 reader ${aborted ? 'aborted' : 'failed'} on it (${reason})`,
    () => {
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
          if (!d || typeof d !== 'object' || !('metadata' in d))
            throw new SpikelrError(`SHD: ${file} has no dataset /${name}; an SHD file has /spikes/times, /spikes/units and /labels`);
          const isVlen = d.metadata.type === H5T_VLEN;
          check(
            isVlen === vlen && d.shape?.length === 1,
            () =>
              `SHD: ${file}: /${name} must be a 1-D ${vlen ? 'variable-length array' : 'integer'} dataset, got ${isVlen ? 'variable-length' : `type ${d.metadata.type}`} of shape [${d.shape?.join(', ')}]`,
          );
          return d;
        };
        const times = readVlen(module, dataset('spikes/times', true));
        const units = readVlen(module, dataset('spikes/units', true));
        const labels = Int32Array.from(dataset('labels', false).value as ArrayLike<number>);
        check(
          times.length === labels.length && units.length === labels.length,
          () => `SHD: ${file}: ${times.length} spike-time rows, ${units.length} unit rows and ${labels.length} labels; they must match`,
        );
        const out: SpikeEvents = { times: [], units: [], labels };
        for (let i = 0; i < labels.length; i++) {
          const t = Float32Array.from(times[i]!),
            u = Int32Array.from(units[i]!);
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
    },
  );
}

/**
 * Spikes binned into `steps` bins of `duration / steps` seconds, `[steps, 700]` row-major; spikes
 * after `duration` are dropped; `binary` (default) clips a bin's count to 1.
 */
export function binEvents(
  times: Float32Array,
  units: Int32Array,
  o: { readonly steps: number; readonly duration: number; readonly binary?: boolean },
  out = new Float32Array(o.steps * SHD_CHANNELS),
): Float32Array {
  for (let i = 0; i < times.length; i++) {
    const bin = Math.floor((times[i]! / o.duration) * o.steps);
    if (bin >= o.steps) continue;
    const at = bin * SHD_CHANNELS + units[i]!;
    out[at] = o.binary === false ? out[at]! + 1 : 1;
  }
  return out;
}

/** A split of SHD from `dir` as a {@link Dataset} of `steps` bins over `duration` seconds (default 1.4). */
export async function loadShd(
  dir: string,
  split: 'train' | 'test',
  o: { readonly steps: number; readonly duration?: number; readonly binary?: boolean },
): Promise<Dataset & { readonly events: SpikeEvents }> {
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
        binEvents(
          events.times[s]!,
          events.units[s]!,
          { steps: o.steps, duration, ...(o.binary !== undefined ? { binary: o.binary } : {}) },
          buf.subarray(i * per, (i + 1) * per),
        );
      }
      return tf.tensor(buf, [indices.length, o.steps, SHD_CHANNELS]);
    },
  };
}
