/**
 * Is this backend computing spikelr correctly? Three checks that run on whatever backend is
 * active — a GPU in a web page (webgl, webgpu), wasm or cpu in Node — each against a truth computed
 * here in float64 JavaScript, independent of tfjs:
 *
 * - `lif`: a LIF layer (snnTorch's Leaky: u_t = β u_{t−1} + I_t − ϑ s_{t−1}, s_t = H(u_t − ϑ)) and a
 *   leaky readout, spikes equal and membranes within float32 rounding of the scalar recurrence;
 * - `lr-unbiased`: the mean of independent LR estimates against the exact gradient of the expected
 *   loss of a one-step noisy layer (logistic escape noise: p = σ((u − ϑ)/σ), so ∂E/∂u = p(1 − p)/σ),
 *   the distance measured in the estimates' own standard errors;
 * - `lr-constant-input`: LR over T steps of a time-constant input, through the path that computes
 *   the first layer's currents and weight gradient once (VJP of Σ_t ĝ_t), against the same estimate
 *   through the T-fold path, with the same noise (two code paths, one answer);
 * - `bptt-gradient`: BPTT through a network whose spike is the smooth sigmoid step (so that the
 *   gradient is exact) against central finite differences of the float64 network.
 *
 * `backendChecks()` runs them all; the web page's "check this backend" and the browser tests call it.
 */
import * as tf from '@tensorflow/tfjs';
import { escapeNoise } from '../neurons/noise.js';
import { lif } from '../neurons/params.js';
import { sigmoid } from '../neurons/surrogate.js';
import { bptt } from './estimators/bptt.js';
import { likelihoodRatio } from './estimators/lr.js';
import { membraneCrossEntropy, type RowLoss } from './losses.js';
import { dense, readout } from '../sim/layer.js';
import { Network } from '../sim/network.js';

export interface CheckResult {
  readonly name: 'lif' | 'lr-unbiased' | 'lr-constant-input' | 'bptt-gradient';
  readonly ok: boolean;
  /** What was compared and how far apart it was. */
  readonly detail: string;
  readonly backend: string;
  readonly ms: number;
}

/** A fixed, irregular value in [−1, 1] for index i of stream k (no random state: the same on every backend). */
const wave = (k: number, i: number) => Math.sin(12.9898 * (i + 1) + 78.233 * (k + 1)) * Math.cos(3.7 * i + k);

type Matrix = number[][];
const matrix = (rows: number, cols: number, k: number, scale: number, shift = 0): Matrix =>
  Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => shift + scale * wave(k, i * cols + j)));
const affine = (x: readonly number[], w: Matrix, b: readonly number[]) => b.map((bj, j) => x.reduce((s, xi, i) => s + xi * w[i]![j]!, bj));

/** Sets every parameter of `net` from `values` (`layer.param` → rows of the weight, or a vector). */
function setParameters(net: Network, values: Record<string, Matrix | number[]>): void {
  for (const layer of net.layers) {
    for (const [name, v] of Object.entries(layer.params)) {
      const given = values[`${layer.name}.${name}`];
      if (!given) throw new Error(`checks: no value for ${layer.name}.${name}`);
      tf.tidy(() => v.assign(tf.tensor((given as (number | number[])[]).flat(), v.shape)));
    }
  }
}

async function timed(name: CheckResult['name'], f: () => { ok: boolean; detail: string }): Promise<CheckResult> {
  const start = performance.now();
  const before = tf.memory().numTensors;
  let r: { ok: boolean; detail: string };
  try {
    r = f();
  } catch (err) {
    r = { ok: false, detail: `threw: ${(err as Error).message}` };
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) r = { ok: false, detail: `${r.detail}; ${leaked} tensors left behind` };
  return { name, ...r, backend: tf.getBackend(), ms: performance.now() - start };
}

/** LIF (subtract reset) and a leaky readout against the scalar float64 recurrence. */
export function checkLif(): Promise<CheckResult> {
  return timed('lif', () => {
    const [B, T, I, H, C] = [3, 12, 5, 6, 3];
    const beta = 0.9,
      threshold = 1,
      readoutBeta = 0.8;
    const W = matrix(I, H, 1, 0.45, 0.3),
      b = matrix(1, H, 2, 0.1)[0]!,
      V = matrix(H, C, 3, 0.8),
      c = matrix(1, C, 4, 0.2)[0]!;
    const x = Array.from({ length: B }, (_, s) => matrix(T, I, 37 + s, 0.5, 0.5)); // no membrane within 0.006 of ϑ
    const net = new Network({
      input: [I],
      layers: [dense({ name: 'h', units: H, neuron: lif({ beta, threshold, reset: 'subtract' }) }), readout({ name: 'r', units: C, beta: readoutBeta })],
      seed: 0,
    });
    setParameters(net, { 'h.weight': W, 'h.bias': b, 'r.weight': V, 'r.bias': c });
    const input = tf.tensor(x.flat(2), [B, T, I]);
    const out = net.run(input, { record: { h: ['spikes', 'membrane'] } });
    const spikes = out.records['h']!.spikes!.arraySync() as number[][][];
    const membrane = out.records['h']!.membrane!.arraySync() as number[][][];
    const readoutMembrane = out.output.arraySync() as number[][][]; // [B, T, C]
    out.dispose();
    input.dispose();
    net.dispose();
    let flips = 0,
      margin = Infinity,
      worstU = 0,
      worstM = 0,
      fired = 0;
    x.forEach((xs, s) => {
      let u = new Array<number>(H).fill(0),
        spk = new Array<number>(H).fill(0),
        m = new Array<number>(C).fill(0);
      xs.forEach((row, t) => {
        const current = affine(row, W, b);
        u = u.map((uk, k) => beta * uk + current[k]! - threshold * spk[k]!);
        spk = u.map((uk) => (uk > threshold ? 1 : 0));
        margin = Math.min(margin, ...u.map((uk) => Math.abs(uk - threshold)));
        m = affine(spk, V, c).map((v, j) => readoutBeta * m[j]! + v);
        u.forEach((uk, k) => {
          if (spikes[s]![t]![k] !== spk[k]) flips++;
          fired += spk[k]!;
          worstU = Math.max(worstU, Math.abs(membrane[s]![t]![k]! - uk));
        });
        m.forEach((mj, j) => (worstM = Math.max(worstM, Math.abs(readoutMembrane[s]![t]![j]! - mj))));
      });
    });
    const ok = flips === 0 && worstU < 1e-4 && worstM < 1e-4 && fired > 10 && margin > 1e-3;
    return {
      ok,
      detail: `${B * T * H} neuron-steps, ${fired} spikes: ${flips} differ; membrane off by ≤ ${worstU.toExponential(1)}, readout by ≤ ${worstM.toExponential(1)} (float64 reference; smallest |u − ϑ| ${margin.toFixed(3)})`,
    };
  });
}

/**
 * LR on one step of a noisy layer with a linear readout of its spikes and the loss Σ_k c_k m_k: the
 * expected loss is linear in the firing probabilities, so its gradient is known exactly.
 */
export function checkLrUnbiased(o: { readonly draws?: number; readonly copies?: number; readonly signScores?: boolean } = {}): Promise<CheckResult> {
  return timed('lr-unbiased', () => {
    const draws = o.draws ?? 16,
      copies = o.copies ?? 128;
    const [B, I, H, C] = [3, 4, 5, 2];
    const sigma = 0.5,
      threshold = 1;
    const W = matrix(I, H, 5, 0.6, 0.4),
      b = matrix(1, H, 6, 0.2)[0]!,
      V = matrix(H, C, 7, 1),
      c = matrix(1, C, 8, 0.1)[0]!;
    const weights = [1, -0.7];
    const x = matrix(B, I, 9, 0.5, 0.5);
    const net = new Network({
      input: [I],
      layers: [dense({ name: 'h', units: H, neuron: lif({ beta: 0.9, threshold }) }), readout({ name: 'r', units: C, beta: 0 })],
      seed: 0,
    });
    setParameters(net, { 'h.weight': W, 'h.bias': b, 'r.weight': V, 'r.bias': c });
    const cw = tf.tensor1d(weights);
    const loss: RowLoss = (output, _labels) => tf.tidy(() => tf.sum(tf.mul(tf.squeeze(output, [0]), cw), 1));
    // exact: ∂E/∂W_ji = (1/B) Σ_b x_bj · p_bi (1 − p_bi)/σ · Σ_k c_k V_ik, and the same without x_bj for the bias
    const gain = V.map((row) => row.reduce((s, v, k) => s + v * weights[k]!, 0));
    const exactW = Array.from({ length: I }, () => new Array<number>(H).fill(0)),
      exactB = new Array<number>(H).fill(0);
    for (const xb of x) {
      affine(xb, W, b).forEach((u, i) => {
        const p = 1 / (1 + Math.exp(-(u - threshold) / sigma));
        const d = (p * (1 - p) * gain[i]!) / sigma / B;
        exactB[i]! += d;
        xb.forEach((xj, j) => (exactW[j]![i]! += xj * d));
      });
    }
    const exact = [...exactW.flat(), ...exactB];
    // signScores (approximated LR) is biased under logistic noise: a way to see the check fail
    const estimator = likelihoodRatio({ copies, noise: escapeNoise('logistic', sigma), signScores: o.signScores ?? false });
    const input = tf.tensor(x.flat(), [B, 1, I]);
    const labels = tf.zeros([B], 'int32');
    const samples: number[][] = [];
    for (let d = 0; d < draws; d++) {
      const e = estimator.estimate(net, { input, labels }, loss, 1000 + d);
      const h = net.layer('h');
      samples.push([...e.gradients.get(h.params['weight']!)!.dataSync(), ...e.gradients.get(h.params['bias']!)!.dataSync()]);
      e.dispose();
    }
    tf.dispose([cw, input, labels]);
    net.dispose();
    // squared distance of the mean from the exact gradient, in units of its expected value Σ_e var_e / draws
    let distance = 0,
      expected = 0,
      size = 0;
    exact.forEach((g, e) => {
      const mean = samples.reduce((s, v) => s + v[e]!, 0) / draws;
      const variance = samples.reduce((s, v) => s + (v[e]! - mean) ** 2, 0) / (draws - 1);
      distance += (mean - g) ** 2;
      expected += variance / draws;
      size += g * g;
    });
    const ratio = distance / expected;
    const resolved = size > 25 * expected;
    return {
      ok: ratio < 4 && resolved,
      detail: `mean of ${draws} estimates (K = ${copies}) vs the exact gradient: squared distance ${ratio.toFixed(2)}× its expected value (< 4 passes); |exact|² = ${(size / expected).toFixed(0)}× the standard error² (> 25: the check can see a bias)`,
    };
  });
}

/** LR's time-constant-input path against its T-fold path, same noise. */
export function checkLrConstantInput(): Promise<CheckResult> {
  return timed('lr-constant-input', () => {
    const [B, T, I, H, C] = [3, 12, 6, 5, 3];
    const net = new Network({
      input: [I],
      layers: [dense({ name: 'h', units: H, neuron: lif({ beta: 0.9, threshold: 1 }) }), readout({ name: 'r', units: C, beta: 0.9 })],
      seed: 0,
    });
    setParameters(net, {
      'h.weight': matrix(I, H, 31, 0.5, 0.3),
      'h.bias': matrix(1, H, 32, 0.1)[0]!,
      'r.weight': matrix(H, C, 33, 0.8),
      'r.bias': matrix(1, C, 34, 0.1)[0]!,
    });
    const once = matrix(B, I, 35, 0.5, 0.5);
    const input = tf.tensor(Array.from({ length: B }, (_, b) => Array.from({ length: T }, () => once[b]!)).flat(2), [B, T, I]);
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    const lr = likelihoodRatio({ copies: 4, noise: escapeNoise('logistic', 0.5) });
    const loss = membraneCrossEntropy('mean');
    const [fast, slow] = [true, false].map((constantInTime) => {
      const e = lr.estimate(net, { input, labels, constantInTime }, loss, 77);
      const out = new Map([...e.gradients].map(([v, g]) => [v, Array.from(g.dataSync())]));
      e.dispose();
      return out;
    });
    let worst = 0,
      scale = 0;
    for (const [v, want] of slow!) {
      const got = fast!.get(v)!;
      const size = Math.max(...want.map(Math.abs));
      scale = Math.max(scale, size);
      want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w) / (1e-6 + size))));
    }
    tf.dispose([input, labels]);
    net.dispose();
    return {
      ok: worst < 1e-4 && scale > 1e-4,
      detail: `${slow!.size} gradients over ${T} steps: the constant-input path differs from the step-by-step path by ≤ ${worst.toExponential(1)} of each gradient's largest entry (< 1e-4 passes)`,
    };
  });
}

/** BPTT through a smooth-spike network against float64 central differences. */
export function checkBpttGradient(): Promise<CheckResult> {
  return timed('bptt-gradient', () => {
    const [B, T, I, H, C] = [2, 4, 3, 3, 2];
    const beta = 0.8,
      threshold = 0.6,
      readoutBeta = 0.8,
      slope = 4;
    const x = Array.from({ length: B }, (_, s) => matrix(T, I, 20 + s, 0.5, 0.5));
    const labels = [0, 1];
    const start: Record<string, Matrix> = {
      'h.weight': matrix(I, H, 21, 0.7, 0.3),
      'h.bias': matrix(1, H, 22, 0.1),
      'r.weight': matrix(H, C, 23, 0.9),
      'r.bias': matrix(1, C, 24, 0.1),
    };
    const S = (v: number) => 1 / (1 + Math.exp(-slope * v));
    const lossOf = (P: Record<string, Matrix>) => {
      let total = 0;
      x.forEach((xs, s) => {
        let u = new Array<number>(H).fill(0),
          spk = new Array<number>(H).fill(0),
          m = new Array<number>(C).fill(0);
        const sum = new Array<number>(C).fill(0);
        for (const row of xs) {
          const current = affine(row, P['h.weight']!, P['h.bias']![0]!);
          u = u.map((uk, k) => beta * uk + current[k]! - threshold * spk[k]!);
          spk = u.map((uk) => S(uk - threshold));
          m = affine(spk, P['r.weight']!, P['r.bias']![0]!).map((v, j) => readoutBeta * m[j]! + v);
          m.forEach((mj, j) => (sum[j]! += mj / T));
        }
        total += Math.log(sum.reduce((a, v) => a + Math.exp(v), 0)) - sum[labels[s]!]!;
      });
      return total / B;
    };
    const net = new Network({
      input: [I],
      layers: [dense({ name: 'h', units: H, neuron: lif({ beta, threshold, reset: 'subtract' }) }), readout({ name: 'r', units: C, beta: readoutBeta })],
      seed: 0,
    });
    setParameters(net, Object.fromEntries(Object.entries(start).map(([k, v]) => [k, k.endsWith('bias') ? v[0]! : v])));
    const input = tf.tensor(x.flat(2), [B, T, I]);
    const y = tf.tensor1d(labels, 'int32');
    const e = bptt({ surrogate: sigmoid({ slope }), smooth: true }).estimate(net, { input, labels: y }, membraneCrossEntropy('mean'));
    let worst = 0,
      compared = 0,
      nonzero = 0;
    for (const layer of net.layers) {
      for (const [name, v] of Object.entries(layer.params)) {
        const key = `${layer.name}.${name}`;
        const got = e.gradients.get(v)!.dataSync();
        const base = start[key]!;
        const cols = base[0]!.length;
        got.forEach((g, i) => {
          const step = 1e-6;
          const shifted = (delta: number) => ({ ...start, [key]: base.map((row, r) => row.map((p, q) => (r * cols + q === i ? p + delta : p))) });
          const fd = (lossOf(shifted(step)) - lossOf(shifted(-step))) / (2 * step);
          worst = Math.max(worst, Math.abs(g - fd) / (1e-4 + 1e-3 * Math.abs(fd)));
          compared++;
          if (Math.abs(fd) > 1e-3) nonzero++;
        });
      }
    }
    const lossGap = Math.abs(e.loss - lossOf(start));
    e.dispose();
    tf.dispose([input, y]);
    net.dispose();
    return {
      ok: worst < 1 && nonzero > compared / 2 && lossGap < 1e-5,
      detail: `${compared} partial derivatives (${nonzero} nonzero) against float64 central differences: worst gap ${worst.toFixed(2)}× the tolerance 1e-4 + 1e-3·|fd| (< 1 passes); loss off by ${lossGap.toExponential(1)}`,
    };
  });
}

/** Every check on the active backend, one after the other. */
export async function backendChecks(): Promise<CheckResult[]> {
  return [await checkLif(), await checkLrUnbiased(), await checkLrConstantInput(), await checkBpttGradient()];
}
