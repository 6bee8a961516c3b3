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
    now = 60; // the first step, a minute of compilation: no rate yet, so no ETA
    bar.update(1, { epoch: 1, loss: 0.6 });
    expect(chunks.at(-1)).toMatch(/ 1\/100 epoch 1 loss 0\.6000 0\.00 steps\/s ETA --:--/);
    now = 62; // 9 steps in 2 s after it: 4.5 steps/s, 90 left: 20 s (not the 1:01:06 the first minute would give)
    bar.update(10, { epoch: 1, loss: 0.5 });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the bar ends by clearing the line (ESC [K)
    expect(chunks.at(-1)).toMatch(/^\r 10% \[#+\.+\] 10\/100 epoch 1 loss 0\.5000 4\.50 steps\/s ETA 0:20\x1b\[K$/);
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

  it('a resumed run measures its rate from the steps it ran itself', () => {
    const { chunks, stream } = sink(false);
    let now = 0;
    const bar = progressBar({ total: 1000, start: 500, stream, now: () => now });
    now = 10;
    bar.update(501, { epoch: 3, loss: 1 });
    now = 20;
    bar.update(550, { epoch: 3, loss: 1 }); // 49 steps in 10 s, not 550
    expect(chunks.at(-1)).toMatch(/4\.90 steps\/s ETA 1:32/);
  });

  it('formats durations', () => {
    expect([formatDuration(0), formatDuration(59.4), formatDuration(61), formatDuration(3725), formatDuration(Infinity)]).toEqual([
      '0:00',
      '0:59',
      '1:01',
      '1:02:05',
      '--:--',
    ]);
  });
});
