/**
 * Waits between threads that always end. A thread blocked in Atomics.wait runs no event loop — no
 * signal handler, no timer — so a helper that died without a word would hold it forever; every
 * wait on another thread's answer goes through {@link waitWhile} with a bound instead.
 */

/** Seconds a thread waits for another's answer before it gives up (SPIKELR_THREAD_TIMEOUT_S overrides). */
export const THREAD_TIMEOUT_SECONDS = 600;

/** Seconds from the environment variable `name` where it holds a positive number, else `fallback`. */
export function secondsFromEnv(name: string, fallback: number): number {
  const env = typeof process === 'undefined' ? undefined : process.env[name];
  const s = env === undefined ? NaN : Number(env);
  return Number.isFinite(s) && s > 0 ? s : fallback;
}

/** The bound in force: {@link THREAD_TIMEOUT_SECONDS}, or SPIKELR_THREAD_TIMEOUT_S where set (a positive number). */
export function threadTimeoutSeconds(): number {
  return secondsFromEnv('SPIKELR_THREAD_TIMEOUT_S', THREAD_TIMEOUT_SECONDS);
}

/**
 * Sleeps while `array[index]` holds `value`, at most `seconds` in all (woken early by
 * Atomics.notify); true once the value changed, false if the time ran out first.
 */
export function waitWhile(array: Int32Array, index: number, value: number, seconds = threadTimeoutSeconds()): boolean {
  const deadline = performance.now() + seconds * 1000;
  while (Atomics.load(array, index) === value) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(array, index, value, left);
  }
  return true;
}
