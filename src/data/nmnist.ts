/**
 * N-MNIST (Orchard et al. 2015) in its original binary event format: one file per sample,
 * `Train|Test/<label>/<id>.bin`, each event 40 bits, big-endian:
 *
 *     bits 39–32  x address (0…33)      bits 31–24  y address (0…33)
 *     bit  23     polarity (1 = ON)     bits 22–0   timestamp in µs
 *
 * An event with y = 240 marks a timestamp overflow: later timestamps are offset by 2¹³ µs more
 * (as Orchard's Read_Ndataset does).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { check, checkInteger, SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';

export const NMNIST_SIZE = 34;
const OVERFLOW_Y = 240;

export interface EventStream {
  readonly x: Uint8Array;
  readonly y: Uint8Array;
  /** 1 for ON, 0 for OFF. */
  readonly polarity: Uint8Array;
  /** µs. */
  readonly t: Float64Array;
}

export function parseNmnistEvents(bytes: Uint8Array, source = 'N-MNIST events'): EventStream {
  if (bytes.length % 5 !== 0) {
    throw new SpikelrError(`${source}: truncated or not an N-MNIST file: ${bytes.length} bytes is not a whole number of 5-byte events`);
  }
  const n = bytes.length / 5;
  const x: number[] = [],
    y: number[] = [],
    p: number[] = [],
    t: number[] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const b = i * 5;
    const ey = bytes[b + 1]!;
    if (ey === OVERFLOW_Y) {
      offset += 2 ** 13;
      continue;
    }
    const ex = bytes[b]!;
    if (ex >= NMNIST_SIZE || ey >= NMNIST_SIZE) {
      throw new SpikelrError(`${source}: not an N-MNIST file: event ${i} has address (${ex}, ${ey}) outside the 34x34 sensor`);
    }
    x.push(ex);
    y.push(ey);
    p.push(bytes[b + 2]! >> 7);
    t.push((((bytes[b + 2]! & 127) << 16) | (bytes[b + 3]! << 8) | bytes[b + 4]!) + offset);
  }
  return { x: Uint8Array.from(x), y: Uint8Array.from(y), polarity: Uint8Array.from(p), t: Float64Array.from(t) };
}

/** The inverse of {@link parseNmnistEvents} (no overflow events; t < 2²³ µs). */
export function encodeNmnistEvents(e: EventStream): Uint8Array {
  const out = new Uint8Array(e.x.length * 5);
  e.x.forEach((x, i) => {
    const t = e.t[i]!;
    check(Number.isInteger(t) && t >= 0 && t < 2 ** 23, () => `encodeNmnistEvents: timestamp ${t} does not fit 23 bits`);
    out.set([x, e.y[i]!, (e.polarity[i]! << 7) | (t >> 16), (t >> 8) & 255, t & 255], i * 5);
  });
  return out;
}

/**
 * Events binned into `steps` frames `[T, 34, 34, 2]` (channel 0 OFF, 1 ON) over [0, duration) µs:
 * event counts, or 0/1 with `binary`.
 */
export function eventsToFrames(e: EventStream, o: { readonly steps: number; readonly duration: number; readonly binary?: boolean }): Float32Array {
  checkInteger('eventsToFrames', 'steps', o.steps, 1);
  check(o.duration > 0, () => `eventsToFrames: duration must be > 0 µs, got ${o.duration}`);
  const frames = new Float32Array(o.steps * NMNIST_SIZE * NMNIST_SIZE * 2);
  for (let i = 0; i < e.x.length; i++) {
    const step = Math.floor((e.t[i]! / o.duration) * o.steps);
    if (step < 0 || step >= o.steps) continue;
    const k = ((step * NMNIST_SIZE + e.y[i]!) * NMNIST_SIZE + e.x[i]!) * 2 + e.polarity[i]!;
    frames[k] = o.binary ? 1 : frames[k]! + 1;
  }
  return frames;
}

export interface EventDataset {
  /** `[count, T, 34·34·2]` frames, row-major. */
  readonly frames: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly steps: number;
}

/**
 * Loads a split from an N-MNIST folder (the unzipped `Train` and `Test` directories). Samples are
 * read in label order, then file-name order; `limit` caps their number.
 */
export async function loadNmnist(
  dir: string,
  split: 'train' | 'test',
  o: { readonly steps: number; readonly duration?: number; readonly binary?: boolean; readonly limit?: number },
): Promise<EventDataset> {
  const folder = path.join(dir, split === 'train' ? 'Train' : 'Test');
  if (!existsSync(folder))
    throw new SpikelrError(`N-MNIST: no folder ${folder} (expected ${split === 'train' ? 'Train' : 'Test'}/0…9/*.bin from the N-MNIST download)`);
  const files: { file: string; label: number }[] = [];
  for (let label = 0; label < 10; label++) {
    const sub = path.join(folder, String(label));
    if (!existsSync(sub)) continue;
    for (const name of (await fs.readdir(sub)).filter((f) => f.endsWith('.bin')).sort()) files.push({ file: path.join(sub, name), label });
  }
  if (files.length === 0) throw new SpikelrError(`N-MNIST: no .bin files under ${folder}/0…9`);
  const chosen = o.limit === undefined ? files : files.slice(0, o.limit);
  const per = o.steps * NMNIST_SIZE * NMNIST_SIZE * 2;
  const frames = new Float32Array(chosen.length * per);
  for (const [i, { file }] of chosen.entries()) {
    const events = parseNmnistEvents(await readFileNamed(file, 'N-MNIST file'), file);
    frames.set(eventsToFrames(events, { steps: o.steps, duration: o.duration ?? 300_000, binary: o.binary ?? true }), i * per);
  }
  return { frames, labels: Uint8Array.from(chosen, (c) => c.label), count: chosen.length, steps: o.steps };
}
