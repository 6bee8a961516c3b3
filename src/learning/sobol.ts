/**
 * Sobol points (base-2 digital nets) with the Joe–Kuo direction numbers ("new-joe-kuo-6.21201",
 * S. Joe and F. Y. Kuo, 2008), generated in 32-bit integers by Gray code (Antonov–Saleev).
 * The table comes from the `sobol` package's data file; its generator is not used (it builds
 * 52-bit direction numbers with JavaScript's 32-bit shift operators, which wrap).
 */
import { check, SpikelrError } from '../core/errors.js';
import { sobolDirections } from '../core/platform/node.js';

export const SOBOL_MAX_DIMENSION = 21201;

interface Primitive {
  readonly s: number;
  readonly a: number;
  readonly m: readonly number[];
}

let table: Primitive[] | undefined;

function joeKuo(): Primitive[] {
  if (table) return table;
  let text: string;
  try {
    text = sobolDirections();
  } catch (err) {
    throw new SpikelrError(`sobol: cannot read the Joe–Kuo direction numbers from the sobol package (${(err as Error).message}); run npm ci`);
  }
  // header "d s a m_i", then one line per dimension 2…21201
  table = text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const [, s, a, ...m] = l.trim().split(/\s+/).map(Number);
      return { s: s!, a: a!, m: m.slice(0, s) };
    });
  check(table.length === SOBOL_MAX_DIMENSION - 1, () => `sobol: expected ${SOBOL_MAX_DIMENSION - 1} rows of direction numbers, found ${table!.length}`);
  return table;
}

/** Direction numbers v_1…v_bits of dimension `d` (0-based), left-aligned in 32 bits. */
function directions(d: number, bits: number): Uint32Array {
  const v = new Uint32Array(bits + 1);
  if (d === 0) {
    for (let k = 1; k <= bits; k++) v[k] = (1 << (32 - k)) >>> 0;
    return v;
  }
  const { s, a, m } = joeKuo()[d - 1]!;
  for (let k = 1; k <= Math.min(s, bits); k++) v[k] = (m[k - 1]! << (32 - k)) >>> 0;
  for (let k = s + 1; k <= bits; k++) {
    let x = (v[k - s]! ^ (v[k - s]! >>> s)) >>> 0;
    for (let j = 1; j <= s - 1; j++) if ((a >>> (s - 1 - j)) & 1) x = (x ^ v[k - j]!) >>> 0;
    v[k] = x;
  }
  return v;
}

const cache = new Map<string, Uint32Array>();

/**
 * The first `count` points (a power of two) of the `dims`-dimensional Sobol sequence, point-major
 * (`[count × dims]`), as 32-bit integers: coordinate = value / 2³². Point 0 is the origin.
 */
export function sobolPoints(count: number, dims: number): Uint32Array {
  check(Number.isInteger(count) && count >= 1 && (count & (count - 1)) === 0, () => `sobol: count must be a power of two, got ${count}`);
  check(Number.isInteger(dims) && dims >= 1 && dims <= SOBOL_MAX_DIMENSION, () => `sobol: dims must be in 1…${SOBOL_MAX_DIMENSION}, got ${dims}`);
  const cacheKey = `${count}x${dims}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const bits = Math.max(1, Math.log2(count));
  const out = new Uint32Array(count * dims);
  for (let d = 0; d < dims; d++) {
    const v = directions(d, bits);
    let x = 0;
    for (let n = 1; n < count; n++) {
      // Gray code: point n differs from point n−1 by the direction of n−1's lowest zero bit
      let c = 1;
      for (let value = n - 1; value & 1; value >>>= 1) c++;
      x = (x ^ v[c]!) >>> 0;
      out[n * dims + d] = x;
    }
  }
  cache.set(cacheKey, out);
  return out;
}

const columns = new Map<number, Uint32Array>();

/** Coordinate `d` of the first `count` Sobol points (cached per count and dimension). */
export function sobolColumn(count: number, d: number): Uint32Array {
  const cacheKey = count * SOBOL_MAX_DIMENSION + d;
  let col = columns.get(cacheKey);
  if (!col) {
    check(d >= 0 && d < SOBOL_MAX_DIMENSION, () => `sobol: dimension ${d} is outside 0…${SOBOL_MAX_DIMENSION - 1}`);
    const bits = Math.max(1, Math.log2(count));
    const v = directions(d, bits);
    col = new Uint32Array(count);
    let x = 0;
    for (let n = 1; n < count; n++) {
      let c = 1;
      for (let value = n - 1; value & 1; value >>>= 1) c++;
      x = (x ^ v[c]!) >>> 0;
      col[n] = x;
    }
    columns.set(cacheKey, col);
  }
  return col;
}
