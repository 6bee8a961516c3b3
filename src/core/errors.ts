/**
 * Errors raised at spikelr's boundaries (constructors, file loads, the command line).
 *
 * The message names the thing that is wrong, what was received and what would fix it, in the
 * style of tfjs-core's op validation: `dense: units must be a positive integer, got 0`.
 */
export class SpikelrError extends Error {
  override readonly name = 'SpikelrError';
}

/** Throws a {@link SpikelrError} with `message` unless `condition` holds. */
export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new SpikelrError(message());
}

/** Formats a value for an error message: short, unambiguous, never `[object Object]`. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

export function checkFinite(where: string, name: string, value: unknown): asserts value is number {
  check(typeof value === 'number' && Number.isFinite(value), () => `${where}: ${name} must be a finite number, got ${show(value)}`);
}

export function checkInRange(where: string, name: string, value: unknown, lo: number, hi: number): asserts value is number {
  checkFinite(where, name, value);
  check(value >= lo && value <= hi, () => `${where}: ${name} must be in [${lo}, ${hi}], got ${value}`);
}

export function checkPositive(where: string, name: string, value: unknown): asserts value is number {
  checkFinite(where, name, value);
  check(value > 0, () => `${where}: ${name} must be > 0, got ${value}`);
}

export function checkInteger(where: string, name: string, value: unknown, min: number): asserts value is number {
  check(typeof value === 'number' && Number.isInteger(value) && value >= min, () => `${where}: ${name} must be an integer >= ${min}, got ${show(value)}`);
}

export function checkOneOf<T extends string>(where: string, name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  check(
    typeof value === 'string' && (allowed as readonly string[]).includes(value),
    () => `${where}: unknown ${name} ${show(value)}; expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
  );
}

/** Rejects keys of a config record that the receiver does not know (typos must not pass silently). */
export function checkKeys(where: string, record: object, allowed: readonly string[]): void {
  for (const key of Object.keys(record)) {
    check(allowed.includes(key), () => `${where}: unknown option '${key}'; allowed options are ${allowed.join(', ')}`);
  }
}

/**
 * Rethrows a file-system error with the path it concerns: a failed write reports no file by itself
 * (the CLI's one-line message names the path from it).
 */
export function namingFile(file: string): (err: unknown) => never {
  return (err) => {
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e === 'object' && e.code && !e.path) e.path = file;
    throw err;
  };
}

/**
 * Whether `err` is the tensor backend running out of memory. The wasm backend reports its 4 GiB
 * heap exhausted as a raw Emscripten abort, an out-of-bounds access, or (a failed allocation viewed
 * from JavaScript) an invalid typed-array length.
 */
export function isBackendOutOfMemory(err: unknown): boolean {
  return /memory access out of bounds|out of memory|Cannot allocate|Array buffer allocation failed|Invalid typed array length|^Aborted\(/i.test(
    (err as Error)?.message ?? '',
  );
}

/** What to lower when a step runs out of memory (`names` spells the settings, flags or keys). */
export function outOfMemoryAdvice(
  err: unknown,
  names: { readonly batch: string; readonly copies: string; readonly steps: string; readonly timeChunk: string },
): string {
  return (
    `most likely out of memory (${((err as Error)?.message ?? String(err)).slice(0, 60)}); the wasm backend's heap ends at 4 GiB. ` +
    `For LR set ${names.timeChunk} (its peak then grows with √T instead of T, for one more forward pass), or lower ${names.batch}, ${names.copies} (LR) or ${names.steps}: ` +
    `a step's peak grows with T·K·B·H for LR and T·B·H for BPTT (bench/results/README.md)`
  );
}
