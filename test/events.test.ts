import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNmnistEvents, eventsToFrames, loadNmnist, parseNmnistEvents } from '../src/data/nmnist.js';
import { randman, randmanCutoff, randmanTask } from '../src/data/randman.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('N-MNIST binary events', () => {
  it('decodes the 40-bit layout: x, y, polarity bit, 23-bit µs timestamp, and overflow events', () => {
    // (x=3, y=7, ON, t=0x012345) then an overflow marker (y = 240) then (x=33, y=0, OFF, t=5)
    const bytes = new Uint8Array([3, 7, 0x81, 0x23, 0x45, 0, 240, 0, 0, 0, 33, 0, 0x00, 0x00, 0x05]);
    const e = parseNmnistEvents(bytes);
    expect(Array.from(e.x)).toEqual([3, 33]);
    expect(Array.from(e.y)).toEqual([7, 0]);
    expect(Array.from(e.polarity)).toEqual([1, 0]);
    expect(Array.from(e.t)).toEqual([0x012345, 5 + 8192]);
  });

  it('round-trips through the encoder and bins events into [T, 34, 34, 2] frames', () => {
    const events = {
      x: Uint8Array.of(0, 5, 5, 33),
      y: Uint8Array.of(0, 6, 6, 33),
      polarity: Uint8Array.of(1, 0, 0, 1),
      t: Float64Array.of(0, 99_999, 99_998, 100_000),
    };
    const back = parseNmnistEvents(encodeNmnistEvents(events));
    expect(back).toEqual(events);
    const f = eventsToFrames(events, { steps: 3, duration: 300_000 });
    const at = (t: number, y: number, x: number, p: number) => f[((t * 34 + y) * 34 + x) * 2 + p];
    expect([at(0, 0, 0, 1), at(0, 6, 5, 0), at(1, 33, 33, 1)]).toEqual([1, 2, 1]);
    expect(f.reduce((a, b) => a + b, 0)).toBe(4);
    expect(eventsToFrames(events, { steps: 3, duration: 300_000, binary: true }).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('names a truncated or foreign file and a missing folder', async () => {
    expect(() => parseNmnistEvents(new Uint8Array(7), 'x.bin')).toThrow(
      /x.bin: truncated or not an N-MNIST file: 7 bytes is not a whole number of 5-byte events/,
    );
    expect(() => parseNmnistEvents(new Uint8Array([40, 2, 0, 0, 0]), 'y.bin')).toThrow(
      /y.bin: not an N-MNIST file: event 0 has address \(40, 2\) outside the 34x34 sensor/,
    );
    await expect(loadNmnist(path.join(dir, 'nowhere'), 'train', { steps: 5 })).rejects.toThrow(
      /N-MNIST: no folder .*nowhere\/Train \(expected Train\/0…9\/\*\.bin/,
    );
  });

  it('loads a split from the Train/<label>/*.bin layout', async () => {
    for (const [label, t] of [
      [2, 1000],
      [7, 250_000],
    ] as const) {
      mkdirSync(path.join(dir, 'nm', 'Train', String(label)), { recursive: true });
      writeFileSync(
        path.join(dir, 'nm', 'Train', String(label), '00001.bin'),
        encodeNmnistEvents({ x: Uint8Array.of(label), y: Uint8Array.of(1), polarity: Uint8Array.of(1), t: Float64Array.of(t) }),
      );
    }
    const d = await loadNmnist(path.join(dir, 'nm'), 'train', { steps: 3 });
    expect([d.count, Array.from(d.labels)]).toEqual([2, [2, 7]]);
    const per = 3 * 34 * 34 * 2;
    expect(d.frames[((0 * 34 + 1) * 34 + 2) * 2 + 1]).toBe(1); // sample 0, step 0, (x=2, y=1), ON
    expect(d.frames[per + ((2 * 34 + 1) * 34 + 7) * 2 + 1]).toBe(1); // sample 1, step 2
  });
});

describe('randman', () => {
  it('cuts the spectrum at ⌈prec^(−1/α)⌉, at most 1000', () => {
    expect([randmanCutoff(2), randmanCutoff(3), randmanCutoff(1), randmanCutoff(0.5)]).toEqual([32, 10, 1000, 1000]);
  });

  it('is smooth: |f(x + δ) − f(x)| ≤ 2π δ Σ k (k+1)^−α for a one-dimensional manifold', () => {
    const m = randman({ embedding: 5, manifold: 1, alpha: 2, seed: 3 });
    const bound = 2 * Math.PI * Array.from({ length: m.cutoff }, (_, k) => k * (k + 1) ** -2).reduce((a, b) => a + b, 0);
    const xs = Float64Array.from({ length: 201 }, (_, i) => i / 200);
    const f = m.evaluate(xs);
    for (let i = 0; i + 1 < xs.length; i++)
      for (let u = 0; u < 5; u++) expect(Math.abs(f[(i + 1) * 5 + u]! - f[i * 5 + u]!)).toBeLessThanOrEqual(bound / 200 + 1e-12);
  });

  it('makes a spike-timing task: one spike per unit, times spanning every step range, balanced and seeded', () => {
    const task = randmanTask({ classes: 3, units: 20, steps: 50, samples: 60, seed: 1 });
    expect([task.count, task.steps, task.units]).toEqual([180, 50, 20]);
    for (let s = 0; s < task.count; s++) {
      for (let u = 0; u < task.units; u++) {
        let n = 0;
        for (let t = 0; t < task.steps; t++) n += task.spikes[(s * task.steps + t) * task.units + u]!;
        expect(n).toBe(1);
      }
    }
    // standardised to [0, 1] per class and unit: the earliest sample fires at step 0, the latest at T − 1
    for (let c = 0; c < 3; c++) {
      for (let u = 0; u < task.units; u++) {
        const times = Array.from(task.labels).flatMap((l, s) =>
          l === c ? [Array.from({ length: 50 }, (_, t) => task.spikes[(s * 50 + t) * 20 + u]).indexOf(1)] : [],
        );
        expect([Math.min(...times), Math.max(...times)]).toEqual([0, 49]);
      }
    }
    expect([0, 1, 2].map((c) => task.labels.filter((l) => l === c).length)).toEqual([60, 60, 60]);
    expect(randmanTask({ classes: 3, units: 20, steps: 50, samples: 60, seed: 1 }).spikes).toEqual(task.spikes);
  });
});
