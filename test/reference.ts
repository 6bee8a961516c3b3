/**
 * A scalar reference simulator: plain float64 loops over neurons and steps, no tensors, written
 * straight from the update equations. Tests compare the tensor simulator against it.
 */
import { compile } from 'mathjs';
import type { EquationParams, NeuronParams } from '../src/neurons/params.js';

export interface RefNeuronTrace {
  membrane: number[][]; // [T][N]
  spikes: number[][];
  threshold: number[][];
}

/** One population of N neurons driven by currents[t][n]; recurrent(t, prevSpikes) adds recurrent input. */
export function refNeurons(
  p: NeuronParams,
  currents: number[][],
  fire: (u: number, thr: number, t: number, n: number) => number = (u, thr) => (u > thr ? 1 : 0),
  recurrent?: (prev: number[]) => number[],
  coef: Readonly<Record<string, readonly number[] | undefined>> = {},
  /** Fixed-point state: each step's membrane (and synaptic current) rounded before the neuron fires. */
  round: (v: number) => number = (v) => v,
): RefNeuronTrace {
  if (p.kind === 'deployed') throw new Error('refNeurons: simulate the wrapped model with coef (mismatch) and round (fixed point)');
  if (p.kind === 'equation') return refEquation(p, currents, fire, recurrent, coef);
  const n = currents[0]!.length;
  let u = new Array<number>(n).fill(0);
  let s = new Array<number>(n).fill(0);
  let i = new Array<number>(n).fill(0);
  let a = new Array<number>(n).fill(0);
  let refr = new Array<number>(n).fill(0);
  if (p.kind === 'gru') throw new Error('refNeurons: use refGru for GRU layers');
  const out: RefNeuronTrace = { membrane: [], spikes: [], threshold: [] };
  currents.forEach((row, t) => {
    const rec = recurrent ? recurrent(s) : new Array<number>(n).fill(0);
    const nu: number[] = [],
      ns: number[] = [],
      ni: number[] = [],
      na: number[] = [],
      nr: number[] = [],
      th: number[] = [];
    for (let k = 0; k < n; k++) {
      const drive = row[k]! + rec[k]!;
      if (p.kind === 'analog') {
        const phi = { relu: (v: number) => Math.max(0, v), tanh: Math.tanh, sigmoid: (v: number) => 1 / (1 + Math.exp(-v)), identity: (v: number) => v }[
          p.activation
        ];
        nu.push(drive);
        ns.push(phi(drive));
        th.push(Infinity);
        continue;
      }
      const beta = coef.beta?.[k] ?? p.beta;
      if (p.kind === 'readout') {
        nu.push(round(beta * u[k]! + drive));
        ns.push(0);
        th.push(Infinity);
        continue;
      }
      let input = drive;
      if (p.kind === 'synaptic') {
        // the synaptic current enters this step's membrane as computed and is stored rounded
        // (spikelr's fixed point rounds each stored field once a step, after the update)
        const raw = p.alpha * i[k]! + drive;
        ni.push(round(raw));
        input = raw;
      }
      const base = coef.threshold?.[k] ?? p.threshold;
      let prevThr = base;
      let thr = base;
      if (p.kind === 'alif') {
        prevThr = base + p.adaptation * a[k]!;
        na.push(p.rho * a[k]! + s[k]!);
        thr = base + p.adaptation * na[k]!;
      }
      const open = refr[k]! <= 0;
      if (!open) input = 0;
      let v: number;
      if (p.reset === 'subtract') v = beta * u[k]! + input - prevThr * s[k]!;
      else if (p.reset === 'zero') v = beta * (1 - s[k]!) * u[k]! + input;
      else v = beta * u[k]! + input;
      v = round(v);
      const spike = open ? fire(v, thr, t, k) : 0;
      nu.push(v);
      ns.push(spike);
      th.push(thr);
      nr.push(spike ? p.refractory : Math.max(refr[k]! - 1, 0));
    }
    u = nu;
    s = ns;
    if (p.kind === 'synaptic') i = ni;
    if (p.kind === 'alif') a = na;
    if (p.kind !== 'readout' && p.kind !== 'analog') refr = nr;
    out.membrane.push(u);
    out.spikes.push(s);
    out.threshold.push(th);
  });
  return out;
}

/**
 * An equation neuron evaluated by mathjs itself in float64, one neuron at a time, with the reset
 * as a branch (the update R_x on the step after a spike, F_x otherwise): independent of how
 * spikelr compiles the equations to tensor ops and folds the reset into one expression.
 */
function refEquation(
  p: EquationParams,
  currents: number[][],
  fire: (u: number, thr: number, t: number, n: number) => number,
  recurrent: ((prev: number[]) => number[]) | undefined,
  coef: Readonly<Record<string, readonly number[] | undefined>>,
): RefNeuronTrace {
  const n = currents[0]!.length;
  const vars = Object.keys(p.equations);
  const update = Object.fromEntries(vars.map((x) => [x, compile(p.equations[x]!)]));
  const reset = Object.fromEntries(vars.filter((x) => p.reset[x] !== undefined).map((x) => [x, compile(p.reset[x]!)]));
  const threshold = compile(p.spike.threshold);
  const param = (k: number) => Object.fromEntries(Object.entries(p.parameters).map(([q, v]) => [q, coef[q]?.[k] ?? v]));
  let x = Array.from({ length: n }, () => Object.fromEntries(vars.map((v) => [v, p.initial[v] ?? 0])) as Record<string, number>);
  let s = new Array<number>(n).fill(0);
  const out: RefNeuronTrace = { membrane: [], spikes: [], threshold: [] };
  currents.forEach((row, t) => {
    const rec = recurrent ? recurrent(s) : new Array<number>(n).fill(0);
    const next = x.map((xk, k) => {
      const scope = { ...param(k), ...xk, I: row[k]! + rec[k]!, s: s[k]! };
      return Object.fromEntries(vars.map((v) => [v, Number((s[k] && reset[v] ? reset[v] : update[v])!.evaluate(scope))])) as Record<string, number>;
    });
    const thr = next.map((xk, k) => Number(threshold.evaluate({ ...param(k), ...xk })));
    s = next.map((xk, k) => fire(xk[p.spike.variable]!, thr[k]!, t, k));
    x = next;
    out.membrane.push(x.map((xk) => xk[p.spike.variable]!));
    out.spikes.push(s);
    out.threshold.push(thr);
  });
  return out;
}

/** x [B][in] times W [in][out] plus b. */
export function refAffine(x: number[], w: number[][], b?: number[]): number[] {
  const out = new Array<number>(w[0]!.length).fill(0);
  x.forEach((xi, i) => w[i]!.forEach((wij, j) => (out[j]! += xi * wij)));
  return b ? out.map((v, j) => v + b[j]!) : out;
}

/** Reshapes a flat row-major array into nested arrays of `shape`. */
// biome-ignore lint/suspicious/noExplicitAny: nested arrays of the shape's depth, compared with toEqual
export function nest(flat: ArrayLike<number>, shape: readonly number[]): any {
  if (shape.length === 1) return Array.from(flat).slice(0, shape[0]);
  const [d, ...rest] = shape;
  const size = rest.reduce((a, c) => a * c, 1);
  return Array.from({ length: d! }, (_, i) => nest(Array.from(flat).slice(i * size, (i + 1) * size), rest));
}

/** Dyadic pseudo-random values k/64, k in [−lo, hi]: sums and products by 0.5 stay exact in float32. */
export function dyadic(count: number, seed: number, lo = -16, hi = 24): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push((lo + (s % (hi - lo + 1))) / 64);
  }
  return out;
}

/** A GRU over inputs x[t][i] with PyTorch's equations (gates r, z, n; weights [in, 3U], [U, 3U]). */
export function refGru(x: number[][], w: number[][], b: number[], u: number[][], c: number[]): number[][] {
  const units = u.length;
  let h = new Array<number>(units).fill(0);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  return x.map((row) => {
    const gx = refAffine(row, w, b);
    const gh = refAffine(h, u, c);
    h = h.map((hk, k) => {
      const r = sig(gx[k]! + gh[k]!);
      const z = sig(gx[units + k]! + gh[units + k]!);
      const n = Math.tanh(gx[2 * units + k]! + r * gh[2 * units + k]!);
      return (1 - z) * n + z * hk;
    });
    return h;
  });
}
