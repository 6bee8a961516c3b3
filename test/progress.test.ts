/** The progress display: a bar redrawn in place on a terminal, plain lines every 5% elsewhere. */
import { describe, expect, it } from 'vitest';
import { formatDuration, progressBar } from '../src/learning/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 120, write: (s: string) => chunks.push(s) } };
}

describe('progress', () => {
  it('on a terminal: one line redrawn with \\r, rate and ETA from a fake clock; notes on their own line', () => {
    const { chunks, stream } = sink(true);
    let now = 0;
    const bar = progressBar({ total: 100, stream, now: () => now });
    now = 2; // 10 steps in 2 s: 5 steps/s, 90 left: 18 s
    bar.update(10, { epoch: 1, loss: 0.5 });
    expect(chunks.at(-1)).toMatch(/^\r 10% \[#+\.+\] 10\/100 epoch 1 loss 0\.5000 5\.00 steps\/s ETA 0:18\x1b\[K$/);
    bar.note('epoch 1: test 90%');
    expect(chunks.at(-1)).toBe('\r\x1b[Kepoch 1: test 90%\n');
    bar.update(11, { epoch: 2, loss: 0.4 });
    bar.done();
    expect(chunks.at(-1)).toBe('\n');
  });

  it('elsewhere: a plain line at every 5% of the run and at the end, nothing in between', () => {
    const { chunks, stream } = sink(false);
    const bar = progressBar({ total: 40, stream, now: () => 1 });
    for (let s = 1; s <= 40; s++) bar.update(s, { epoch: 1, loss: 1 });
    bar.done();
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
    // every = 2 steps: lines at steps 1, 2, 4, …, 40
    expect(chunks.map((c) => Number(/ (\d+)\/40 /.exec(c)![1]))).toEqual([1, ...Array.from({ length: 20 }, (_, i) => 2 * (i + 1))]);
  });

  it('a resumed run measures its rate from the step it resumed at', () => {
    const { chunks, stream } = sink(false);
    let now = 0;
    const bar = progressBar({ total: 1000, start: 500, stream, now: () => now });
    now = 10;
    bar.update(501, { epoch: 3, loss: 1 }); // one step in 10 s, not 501
    expect(chunks[0]).toMatch(/0\.10 steps\/s ETA 1:23:10/);
  });

  it('formats durations', () => {
    expect([formatDuration(0), formatDuration(59.4), formatDuration(61), formatDuration(3725), formatDuration(Infinity)]).toEqual(['0:00', '0:59', '1:01', '1:02:05', '--:--']);
  });
});
