/**
 * One step of a LIF population with logistic escape noise, fused (LR's forward pass,
 * src/kernels/noisy-lif-kernel.ts): the membrane update, the firing probability, the spike drawn from
 * its uniform and the spike score, row by row in three short loops over data that stays in cache,
 * where the separate tensor ops make about a dozen passes over the whole state. Every operation is
 * the one the separate ops perform, in the same order, but for exp, a polynomial here (Cephes'
 * expf: within 2 ulp on the clamped range). The loops are short, and the exp loop takes four
 * vectors at a time, so that the CPU overlaps their long dependency chains (one long loop body ran
 * 2.3× slower).
 */

import { accumulate, stripeColumns } from './sparse';

const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
// exp of anything outside this range saturates a sigmoid in float32 anyway; the bounds keep 2ⁿ normal
const LO: f32 = -87.0;
const HI: f32 = 88.0;
const MAGIC: f32 = 12582912.0 + 127.0;

/** e^x, four lanes. */
function exp4(x: v128): v128 {
  // pmin/pmax: one instruction each (min/max propagate NaN, which a clamped exp does not need)
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(LO)), f32x4.splat(HI));
  // round x·log2 e to an integer n by adding 1.5·2²³ (+ the exponent bias): the sum's low bits are n + 127
  const biased = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(MAGIC));
  const fx = f32x4.sub(biased, f32x4.splat(MAGIC));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(fx, f32x4.splat(C1))), f32x4.mul(fx, f32x4.splat(C2)));
  let y = f32x4.splat(P0);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P4));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P5));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f32x4.splat(1.0));
  return f32x4.mul(y, i32x4.shl(biased, 23));
}

/** e^x, one lane, the same operations as {@link exp4}. */
function exp1(x: f32): f32 {
  x = min<f32>(max<f32>(x, LO), HI);
  const biased = x * LOG2E + MAGIC;
  const fx = biased - MAGIC;
  const r = (x - fx * C1) - fx * C2;
  let y = P0;
  y = y * r + P1;
  y = y * r + P2;
  y = y * r + P3;
  y = y * r + P4;
  y = y * r + P5;
  y = ((y * r) * r + r) + <f32>1.0;
  return y * reinterpret<f32>(reinterpret<i32>(biased) << 23);
}

/** p = 1/(1 + e^x) for the n floats at `at`, in place. */
function logistic(at: usize, n: i32): void {
  const one = f32x4.splat(1.0);
  let c = 0;
  for (; c + 16 <= n; c += 16) {
    const a = at + (<usize>c << 2);
    const e0 = exp4(v128.load(a)), e1 = exp4(v128.load(a + 16)), e2 = exp4(v128.load(a + 32)), e3 = exp4(v128.load(a + 48));
    v128.store(a, f32x4.div(one, f32x4.add(one, e0)));
    v128.store(a + 16, f32x4.div(one, f32x4.add(one, e1)));
    v128.store(a + 32, f32x4.div(one, f32x4.add(one, e2)));
    v128.store(a + 48, f32x4.div(one, f32x4.add(one, e3)));
  }
  for (; c < n; c++) {
    const a = at + (<usize>c << 2);
    store<f32>(a, <f32>1.0 / (<f32>1.0 + exp1(load<f32>(a))));
  }
}

/**
 * The membrane update from the previous membrane m and spikes s and the input current i, four
 * lanes, in the separate ops' order: reset 0 (subtract) (β m + i) − ϑ s, 1 (zero) (β (1 − s)) m + i,
 * 2 (none) β m + i. Shared by the noisy step and BPTT's sequence, so both keep the separate ops' bits.
 */
// @ts-ignore: decorator
@inline
function membrane4(reset: i32, vb: v128, vt: v128, m: v128, s: v128, i: v128): v128 {
  if (reset == 0) return f32x4.sub(f32x4.add(f32x4.mul(vb, m), i), f32x4.mul(vt, s));
  if (reset == 1) return f32x4.add(f32x4.mul(f32x4.mul(vb, f32x4.sub(f32x4.splat(1.0), s)), m), i);
  return f32x4.add(f32x4.mul(vb, m), i);
}

/** {@link membrane4}, one lane. */
// @ts-ignore: decorator
@inline
function membrane1(reset: i32, beta: f32, threshold: f32, m: f32, s: f32, i: f32): f32 {
  return reset == 0 ? (beta * m + i) - threshold * s : reset == 1 ? (beta * (<f32>1.0 - s)) * m + i : beta * m + i;
}

/**
 * For rows r < `rows` of n neurons, with I the drive row r % driveRows (a drive shared by the K
 * copies of a batch), m, s the previous membrane and spikes and U the uniforms:
 *
 *     u = β m + I − ϑ s        (reset 0, subtract; 1, zero: β (1 − s) m + I; 2, none: β m + I)
 *     p = 1 / (1 + e^(−(u − ϑ)/σ)),   s' = H(U + (p − 1)),   ψ = (s' − p)/σ
 *
 * written to outMembrane, outSpikes and outScore.
 */
export function noisyLif(
  drive: usize, driveRows: i32, membrane: usize, spikes: usize, uniforms: usize, rows: i32, n: i32,
  beta: f32, threshold: f32, sigma: f32, reset: i32, outMembrane: usize, outSpikes: usize, outScore: usize,
): void {
  const vb = f32x4.splat(beta), vt = f32x4.splat(threshold), vs = f32x4.splat(sigma);
  const one = f32x4.splat(1.0), zero = f32x4.splat(0.0);
  const vectors = n & ~3;
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * <usize>n << 2;
    const d = drive + (<usize>(r % driveRows) * <usize>n << 2);
    // u, and −z = −(u − ϑ)/σ where the score goes
    for (let c = 0; c < vectors; c += 4) {
      const at = row + (<usize>c << 2);
      const u = membrane4(reset, vb, vt, v128.load(membrane + at), v128.load(spikes + at), v128.load(d + (<usize>c << 2)));
      v128.store(outMembrane + at, u);
      v128.store(outScore + at, f32x4.neg(f32x4.div(f32x4.sub(u, vt), vs)));
    }
    for (let c = vectors; c < n; c++) {
      const at = row + (<usize>c << 2);
      const u = membrane1(reset, beta, threshold, load<f32>(membrane + at), load<f32>(spikes + at), load<f32>(d + (<usize>c << 2)));
      store<f32>(outMembrane + at, u);
      store<f32>(outScore + at, -((u - threshold) / sigma));
    }
    // p
    logistic(outScore + row, n);
    // the spike and its score
    for (let c = 0; c < vectors; c += 4) {
      const at = row + (<usize>c << 2);
      const p = v128.load(outScore + at);
      const fired = v128.and(f32x4.gt(f32x4.add(v128.load(uniforms + at), f32x4.sub(p, one)), zero), one);
      v128.store(outSpikes + at, fired);
      v128.store(outScore + at, f32x4.div(f32x4.sub(fired, p), vs));
    }
    for (let c = vectors; c < n; c++) {
      const at = row + (<usize>c << 2);
      const p = load<f32>(outScore + at);
      const fired: f32 = load<f32>(uniforms + at) + (p - <f32>1.0) > 0 ? 1.0 : 0.0;
      store<f32>(outSpikes + at, fired);
      store<f32>(outScore + at, (fired - p) / sigma);
    }
  }
}

/**
 * One step of a LIF-family reverse filter (subtract or no reset), fused for LR (noisy-lif-kernel.ts):
 * for rows r < `rows` of n neurons, with ψ the step's score, w the rows' loss weights (unless
 * `weights` is 0) and λ' the next step's adjoint (unless `next` is 0),
 *
 *     λ = w ψ + β λ'                        (the separate ops' order: (w·ψ) + (β·λ'))
 *     contracted[r mod inputRows] += λ     (rows added in increasing r, from zero: the copies' sum)
 *
 * written to outLambda and outContracted ([inputRows, n]).
 */
export function lifAdjoint(
  psi: usize, weights: usize, next: usize, beta: f32, rows: i32, n: i32, inputRows: i32, outLambda: usize, outContracted: usize,
): void {
  memory.fill(outContracted, 0, <usize>inputRows * <usize>n << 2);
  const vb = f32x4.splat(beta);
  const vectors = n & ~3;
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * <usize>n << 2;
    const into = outContracted + (<usize>(r % inputRows) * <usize>n << 2);
    const w: f32 = weights ? load<f32>(weights + (<usize>r << 2)) : 1;
    const vw = f32x4.splat(w);
    for (let c = 0; c < vectors; c += 4) {
      const at = row + (<usize>c << 2);
      let l = v128.load(psi + at);
      if (weights) l = f32x4.mul(vw, l);
      if (next) l = f32x4.add(l, f32x4.mul(vb, v128.load(next + at)));
      v128.store(outLambda + at, l);
      const o = into + (<usize>c << 2);
      v128.store(o, f32x4.add(v128.load(o), l));
    }
    for (let c = vectors; c < n; c++) {
      const at = row + (<usize>c << 2);
      let l = load<f32>(psi + at);
      if (weights) l = w * l;
      if (next) l = l + beta * load<f32>(next + at);
      store<f32>(outLambda + at, l);
      const o = into + (<usize>c << 2);
      store<f32>(o, load<f32>(o) + l);
    }
  }
}

/**
 * A LIF population's whole sequence under deterministic firing, from rest (surrogate-gradient
 * BPTT's forward pass, src/kernels/lif-sequence.ts): for t < steps over the m entries of a step,
 *
 *     u_t = β u_{t−1} + I_t − ϑ s_{t−1}     (reset 0, subtract; 1, zero: β (1 − s_{t−1}) u_{t−1} + I_t; 2, none: β u_{t−1} + I_t)
 *     s_t = H(u_t − ϑ)                      (H(0) = 0)
 *
 * written to outMembrane and outSpikes ([steps, m]) — the separate ops' arithmetic in their order.
 */
export function lifSequence(currents: usize, steps: i32, m: i32, beta: f32, threshold: f32, reset: i32, outMembrane: usize, outSpikes: usize): void {
  const vb = f32x4.splat(beta), vt = f32x4.splat(threshold);
  const one = f32x4.splat(1.0), zero = f32x4.splat(0.0);
  const vectors = m & ~3;
  const stride = <usize>m << 2;
  for (let t = 0; t < steps; t++) {
    const at = <usize>t * stride;
    const first = t == 0;
    const pm = outMembrane + at - stride, ps = outSpikes + at - stride;
    for (let c = 0; c < vectors; c += 4) {
      const o = <usize>c << 2;
      const u = membrane4(reset, vb, vt, first ? zero : v128.load(pm + o), first ? zero : v128.load(ps + o), v128.load(currents + at + o));
      v128.store(outMembrane + at + o, u);
      v128.store(outSpikes + at + o, v128.and(f32x4.gt(f32x4.sub(u, vt), zero), one));
    }
    for (let c = vectors; c < m; c++) {
      const o = <usize>c << 2;
      const u = membrane1(reset, beta, threshold, first ? <f32>0 : load<f32>(pm + o), first ? <f32>0 : load<f32>(ps + o), load<f32>(currents + at + o));
      store<f32>(outMembrane + at + o, u);
      store<f32>(outSpikes + at + o, u - threshold > 0 ? 1.0 : 0.0);
    }
  }
}

/** S'(x) of the surrogate `kind` (1 atan: a/(1 + (c x)²); 2 fast sigmoid: 1/(1 + c|x|)²; 3 triangular: max(0, 1 − |x|/c)/c; 4 straight-through: 1), four lanes, the separate ops' arithmetic. */
function slope4(kind: i32, x: v128, c: v128, a: v128): v128 {
  const one = f32x4.splat(1.0);
  if (kind == 1) {
    const y = f32x4.mul(c, x);
    return f32x4.div(a, f32x4.add(one, f32x4.mul(y, y)));
  }
  if (kind == 2) {
    const y = f32x4.add(one, f32x4.mul(c, f32x4.abs(x)));
    return f32x4.div(one, f32x4.mul(y, y));
  }
  if (kind == 3) return f32x4.div(f32x4.max(f32x4.splat(0.0), f32x4.sub(one, f32x4.div(f32x4.abs(x), c))), c);
  return one;
}

/** {@link slope4}, one lane. */
function slope1(kind: i32, x: f32, c: f32, a: f32): f32 {
  if (kind == 1) {
    const y = c * x;
    return a / (<f32>1.0 + y * y);
  }
  if (kind == 2) {
    const y = <f32>1.0 + c * abs<f32>(x);
    return <f32>1.0 / (y * y);
  }
  if (kind == 3) return max<f32>(0, <f32>1.0 - abs<f32>(x) / c) / c;
  return 1;
}

/**
 * The reverse pass of {@link lifSequence} with a surrogate derivative: given the spikes' upstream
 * gradient δ_t and g_t = S'(u_t − ϑ) — read from `slope` (kind 0) or computed here from the
 * membrane (kinds of {@link slope4}, constants c and a) — from the last step back,
 *
 *     a_t = g_t (δ_t − c_t a_{t+1}) + k_t a_{t+1}       (a_steps = 0)
 *
 * with k_t = ∂u_{t+1}/∂u_t (β; zero reset β (1 − s_t)) and c_t = −∂u_{t+1}/∂s_t through the reset
 * (subtract ϑ, zero β u_t, none 0; 0 when `detach`, the reset's spike taken as a constant). a_t is
 * the gradient of the current I_t, written to outCurrent.
 */
export function lifSequenceAdjoint(
  slope: usize, kind: i32, c: f32, a: f32, upstream: usize, spikes: usize, membrane: usize, steps: i32, m: i32, beta: f32, threshold: f32, reset: i32, detach: i32,
  outCurrent: usize,
): void {
  for (let t = steps - 1; t >= 0; t--) adjointStep(t, slope, kind, c, a, upstream, 0, spikes, membrane, steps, m, m, beta, threshold, reset, detach, outCurrent, 0);
}

/**
 * Step t of {@link lifSequenceAdjoint} for a recurrent population (lif-recurrent-sequence.ts), whose
 * spikes also reach the next step through V: δ_t is the upstream gradient plus `product`, the m
 * floats of a_{t+1} Vᵀ that the caller computed from this kernel's previous step, which it also
 * finds copied to `copy` (0: no copy). The m floats are the first of each step's `stepFloats` in
 * the [T, …] operands and output (all of them, or one thread's share of the rows).
 */
export function recurrentAdjointStep(
  t: i32, slope: usize, kind: i32, c: f32, a: f32, upstream: usize, product: usize, spikes: usize, membrane: usize, steps: i32, m: i32, stepFloats: i32,
  beta: f32, threshold: f32, reset: i32, detach: i32, outCurrent: usize, copy: usize,
): void {
  adjointStep(t, slope, kind, c, a, upstream, product, spikes, membrane, steps, m, stepFloats, beta, threshold, reset, detach, outCurrent, copy);
}

/** Step t of the reverse recursion: δ_t = upstream_t (+ product when nonzero, added first as the separate ops add it); a_t also to `copy` when nonzero. */
// @ts-ignore: decorator
@inline
function adjointStep(
  t: i32, slope: usize, kind: i32, c: f32, a: f32, upstream: usize, product: usize, spikes: usize, membrane: usize, steps: i32, m: i32, stepFloats: i32,
  beta: f32, threshold: f32, reset: i32, detach: i32, outCurrent: usize, copy: usize,
): void {
  const vb = f32x4.splat(beta), vt = f32x4.splat(threshold), one = f32x4.splat(1.0), vc = f32x4.splat(c), va = f32x4.splat(a);
  const vectors = m & ~3;
  const stride = <usize>stepFloats << 2;
  const through = reset != 2 && detach == 0;
  const at = <usize>t * stride;
  const last = t == steps - 1;
  const next = outCurrent + at + stride;
  for (let i = 0; i < vectors; i += 4) {
    const o = <usize>i << 2;
    const u = v128.load(membrane + at + o);
    const g = kind == 0 ? v128.load(slope + at + o) : slope4(kind, f32x4.sub(u, vt), vc, va);
    let d = v128.load(upstream + at + o);
    let out: v128;
    if (last) {
      out = f32x4.mul(g, d);
    } else {
      if (product != 0) d = f32x4.add(d, v128.load(product + o));
      const n = v128.load(next + o);
      const k = reset == 1 ? f32x4.mul(vb, f32x4.sub(one, v128.load(spikes + at + o))) : vb;
      if (through) d = f32x4.sub(d, f32x4.mul(reset == 0 ? vt : f32x4.mul(vb, u), n));
      out = f32x4.add(f32x4.mul(g, d), f32x4.mul(k, n));
    }
    v128.store(outCurrent + at + o, out);
    if (copy != 0) v128.store(copy + o, out);
  }
  for (let i = vectors; i < m; i++) {
    const o = <usize>i << 2;
    const u = load<f32>(membrane + at + o);
    const g = kind == 0 ? load<f32>(slope + at + o) : slope1(kind, u - threshold, c, a);
    let d = load<f32>(upstream + at + o);
    let out: f32;
    if (last) {
      out = g * d;
    } else {
      if (product != 0) d = d + load<f32>(product + o);
      const n = load<f32>(next + o);
      const k: f32 = reset == 1 ? beta * (<f32>1.0 - load<f32>(spikes + at + o)) : beta;
      if (through) d = d - (reset == 0 ? threshold : beta * u) * n;
      out = g * d + k * n;
    }
    store<f32>(outCurrent + at + o, out);
    if (copy != 0) store<f32>(copy + o, out);
  }
}

/**
 * The forward loop of a recurrent LIF population (BPTT's RLeaky, lif-recurrent-sequence.ts), `rows`
 * rows of n neurons from rest: step t's current is drive_t + s_{t−1} V, then {@link lifSequence}'s
 * update. The recurrent part is the event-driven product of sparse.ts — each row's spikes of the
 * step before listed in increasing j, the rows of V [n, n] they select summed from zero by
 * accumulate — so the bits are those of the separate ops whenever their product takes the sparse
 * path. The rows are the first `rows` of each step's `stepFloats / n` in drives and outputs (all of
 * them, or one thread's share). Scratch: `starts` (rows + 1 ints), `index` (rows · n ints), `ones`
 * and `sum` (rows · n floats), `stripes` (V's stripes of 16 columns, ⌊n / 16⌋ · 16 · n floats).
 */
export function recurrentLifSequence(
  drives: usize, steps: i32, rows: i32, n: i32, stepFloats: i32, v: usize, beta: f32, threshold: f32, reset: i32, outMembrane: usize, outSpikes: usize,
  starts: usize, index: usize, ones: usize, sum: usize, stripes: usize,
): void {
  stripeColumns(v, n, n, stripes);
  const m = rows * n;
  const vb = f32x4.splat(beta), vt = f32x4.splat(threshold);
  const one = f32x4.splat(1.0), zero = f32x4.splat(0.0);
  const vectors = m & ~3;
  const stride = <usize>stepFloats << 2;
  for (let i = 0; i < m; i++) store<f32>(ones + (<usize>i << 2), 1.0);
  for (let t = 0; t < steps; t++) {
    const at = <usize>t * stride;
    const first = t == 0;
    const pm = outMembrane + at - stride, ps = outSpikes + at - stride;
    if (!first) {
      // row r's spikes of step t − 1 as a list of j, four at a time by their lanes' mask
      let count = 0;
      for (let r = 0; r < rows; r++) {
        store<i32>(starts + (<usize>r << 2), count);
        const row = ps + (<usize>(r * n) << 2);
        let j = 0;
        for (; j + 4 <= n; j += 4) {
          let mask = i32x4.bitmask(f32x4.ne(v128.load(row + (<usize>j << 2)), zero));
          while (mask != 0) {
            store<i32>(index + (<usize>count << 2), j + ctz<i32>(mask));
            count++;
            mask &= mask - 1;
          }
        }
        for (; j < n; j++) {
          if (load<f32>(row + (<usize>j << 2)) != 0) {
            store<i32>(index + (<usize>count << 2), j);
            count++;
          }
        }
      }
      store<i32>(starts + (<usize>rows << 2), count);
      accumulate(starts, index, ones, rows, v, n, n, sum, 1, stripes);
    }
    for (let c = 0; c < vectors; c += 4) {
      const o = <usize>c << 2;
      const drive = v128.load(drives + at + o);
      const u = first
        ? membrane4(reset, vb, vt, zero, zero, drive)
        : membrane4(reset, vb, vt, v128.load(pm + o), v128.load(ps + o), f32x4.add(drive, v128.load(sum + o)));
      v128.store(outMembrane + at + o, u);
      v128.store(outSpikes + at + o, v128.and(f32x4.gt(f32x4.sub(u, vt), zero), one));
    }
    for (let c = vectors; c < m; c++) {
      const o = <usize>c << 2;
      const drive = load<f32>(drives + at + o);
      const u = first
        ? membrane1(reset, beta, threshold, 0, 0, drive)
        : membrane1(reset, beta, threshold, load<f32>(pm + o), load<f32>(ps + o), drive + load<f32>(sum + o));
      store<f32>(outMembrane + at + o, u);
      store<f32>(outSpikes + at + o, u - threshold > 0 ? 1.0 : 0.0);
    }
  }
}
