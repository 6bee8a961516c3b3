/**
 * Counter-based random numbers: element `i` of stream `key` is a pure function of `(key, i)`.
 *
 * Nothing is stored to regenerate noise (DESIGN.md §4.3): the same `(seed, layer, step, copy)`
 * key gives the same numbers on every backend, in any order, on any thread. The mixer is a
 * two-round 32-bit integer hash (Wellons' "lowbias32" constants), applied twice with the key
 * folded in between, which passes the avalanche tests that matter for Monte Carlo noise.
 */

function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** Folds a seed and any number of integer ids (layer, step, copy, …) into one 32-bit stream key. */
export function streamKey(seed: number, ...ids: readonly number[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const id of ids) h = mix32((h + Math.imul((id >>> 0) + 1, 0x85ebca6b)) >>> 0);
  return h;
}

/** The raw 32-bit word at position `counter` of stream `key`. */
export function word(key: number, counter: number): number {
  return mix32((mix32((counter ^ key) >>> 0) + key) >>> 0);
}

const TWO_POW_M32 = 2 ** -32;

/**
 * Fills `out` with uniforms strictly inside (0, 1) from stream `key`, counters `offset…`.
 * 32 bits of resolution, so inverse CDFs stay finite (Gaussian tails reach ±6.2).
 */
export function fillUniform(out: Float32Array | Float64Array, key: number, offset = 0): void {
  for (let i = 0; i < out.length; i++) out[i] = (word(key, offset + i) + 0.5) * TWO_POW_M32;
}

export function uniform(count: number, key: number, offset = 0): Float64Array {
  const out = new Float64Array(count);
  fillUniform(out, key, offset);
  return out;
}

/** A seed for a fresh run when the caller gave none: from the clock, reported so it can be replayed. */
export function freshSeed(): number {
  return mix32((Date.now() ^ Math.floor(Math.random() * 0x100000000)) >>> 0);
}

/** A seeded random permutation of 0…n−1 (Fisher–Yates on counter-stream uniforms). */
export function permutation(n: number, key: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  const u = uniform(n, key);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}
