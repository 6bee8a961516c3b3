/**
 * Waits on another thread always end (src/core/bounded-wait.ts): a helper that answers wakes the
 * waiter at once, one that never answers lets it go after the bound — where a bare Atomics.wait
 * would hold the thread, its signal handlers and timers forever.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { threadTimeoutSeconds, THREAD_TIMEOUT_SECONDS, waitWhile } from '../src/core/bounded-wait.js';

describe('waitWhile', () => {
  it('returns true as soon as another thread changes the word', async () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      'const { workerData: w } = require("node:worker_threads"); setTimeout(() => { Atomics.store(w, 0, 1); Atomics.notify(w, 0); }, 100);',
      { eval: true, workerData: word },
    );
    const started = performance.now();
    expect(waitWhile(word, 0, 0, 10)).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
    await worker.terminate();
  });

  it('returns false after its bound when nobody answers, and at once when the word differs already', () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const started = performance.now();
    expect(waitWhile(word, 0, 0, 0.2)).toBe(false);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(2000);
    expect(waitWhile(word, 0, 7, 10)).toBe(true);
  });

  it('takes its bound from SPIKELR_THREAD_TIMEOUT_S, ignoring a value that is not a positive number', () => {
    const before = process.env['SPIKELR_THREAD_TIMEOUT_S'];
    try {
      process.env['SPIKELR_THREAD_TIMEOUT_S'] = '12.5';
      expect(threadTimeoutSeconds()).toBe(12.5);
      process.env['SPIKELR_THREAD_TIMEOUT_S'] = 'soon';
      expect(threadTimeoutSeconds()).toBe(THREAD_TIMEOUT_SECONDS);
    } finally {
      if (before === undefined) delete process.env['SPIKELR_THREAD_TIMEOUT_S'];
      else process.env['SPIKELR_THREAD_TIMEOUT_S'] = before;
    }
  });
});
