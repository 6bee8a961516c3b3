/**
 * Forward gradients (Baydin et al. 2022, "Gradients without backpropagation"): with directions
 * v ~ N(0, I), g = mean_k (∇L · v_k) v_k is an unbiased estimate of ∇L, and ∇L · v comes from
 * forward mode in the same pass as the loss — no tape, so memory does not grow with T. Spikes take
 * the surrogate's derivative, so ∇L is the surrogate network's gradient: the objective BPTT
 * estimates, not LR's expected loss of the stochastic network.
 *
 * - `perturb: 'weights'`: one direction over every trained parameter; variance grows with their
 *   number.
 * - `perturb: 'activities'` (Ren, Kornblith, Liao and Hinton 2022): directions u on one layer's
 *   input currents at a time, the tangent carried from there to the loss; each sample's current
 *   adjoint is estimated by (∇ℓ_b · u_b) u_b and turned into weight gradients by the layer's own
 *   local VJP — far fewer perturbed entries, far less variance. One pass per layer and direction.
 * - `tangent: 'finite-difference'`: ∇L · v ≈ (L(θ + εv) − L(θ − εv)) / 2ε of the deterministic
 *   network (zeroth order, SPSA-like), for networks with no tangent; weights only.
 *
 * Directions come from the counter stream (regenerated from the seed, never stored). With weight
 * perturbation all K directions share one step-major forward-mode pass (`tangentSteps`): the
 * primal is computed once and memory is flat in T.
 */
import * as tf from '@tensorflow/tfjs';
import { accumulate, linearReads, readDerivatives } from './fg-reads.js';
import { check, checkInteger, checkKeys, checkOneOf, checkPositive, show } from '../../core/errors.js';
import { sampleNoise } from '../../neurons/noise.js';
import { atan, surrogateByName, type Surrogate } from '../../neurons/surrogate.js';
import { currentShapeOf, LOCAL_HEAD_PARAMS } from '../../sim/layer.js';
import type { Network } from '../../sim/network.js';
import { freshSeed, streamKey } from '../../core/random.js';
import { checkDifferentiable, type RowLoss } from '../losses.js';
import { addInto } from '../running-sum.js';
import { lossTangents } from '../tangent.js';
import { directionalDerivatives, stepsMeanReadout, tangentSteps } from '../tangent-steps.js';
import { LOCAL_CREDITS, TANGENTS, type LocalCredit } from '../config.js';
import { deterministicParameters, differentiableRun } from './bptt.js';
import type { Batch, Estimator, GradientEstimate, Method } from './types.js';
import type { TrainConfig } from '../config.js';

export const PERTURBATIONS = ['weights', 'activities'] as const;

/** What to use instead of the exact tangent on a loss with no derivative, by perturbation. */
const NO_DERIVATIVE: Record<(typeof PERTURBATIONS)[number], string> = {
  weights: "use the finite-difference tangent (--tangent finite-difference), which needs only the loss's values, or LR (--method lr)",
  activities: 'use fg with the finite-difference tangent (--method fg --tangent finite-difference), or LR (--method lr)',
};
export { TANGENTS } from '../config.js';

export interface FGConfig {
  /** Directions K per estimate (averaged). */
  readonly directions: number;
  readonly perturb?: (typeof PERTURBATIONS)[number];
  readonly tangent?: (typeof TANGENTS)[number];
  /** The spike's derivative in forward mode (default atan(α = 2), as BPTT). */
  readonly surrogate?: Surrogate;
  /** Step ε of the finite-difference tangent. */
  readonly epsilon?: number;
  /**
   * Activity perturbation: how a direction on a layer read by a linear map of its time mean (a
   * local head; with 'unit', also the layer a readout reads by its mean) takes the read's loss —
   * 'loss' (default: the row's derivative, Ren et al.'s estimate) or 'unit' (each unit its own
   * term: the same expectation, less variance; see readDerivatives).
   */
  readonly localCredit?: LocalCredit;
}

/**
 * A standard-normal tensor of `shape` from counter stream `key`; `part` p: the p-th such block of
 * the stream (step t of a direction over `[T, …shape]` is block t).
 */
function normal(shape: readonly number[], key: number, part = 0): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(sampleNoise('gaussian', size, key, part * size), [...shape], 'float32');
}

/** Mean loss of the deterministic network (spikes by H; no noise). */
function meanLoss(net: Network, batch: Batch, loss: RowLoss): number {
  return tf.tidy(
    () =>
      tf
        .mean(
          loss(
            differentiableRun(net, batch.input, (x) => tf.step(x), { constantInput: batch.constantInTime === true }),
            batch.labels,
          ),
        )
        .dataSync()[0]!,
  );
}

/** (L(θ + εv) − L(θ − εv)) / 2ε, the parameters restored bit for bit afterwards. */
function finiteDifference(net: Network, batch: Batch, loss: RowLoss, v: ReadonlyMap<tf.Variable, tf.Tensor>, epsilon: number): number {
  const saved = new Map([...v.keys()].map((x) => [x, x.clone()] as const));
  const shift = (sign: number) => v.forEach((d, x) => tf.tidy(() => x.assign(tf.add(saved.get(x)!, tf.mul(sign * epsilon, d)))));
  try {
    shift(1);
    const plus = meanLoss(net, batch, loss);
    shift(-1);
    const minus = meanLoss(net, batch, loss);
    return (plus - minus) / (2 * epsilon);
  } finally {
    saved.forEach((value, x) => x.assign(value));
    tf.dispose([...saved.values()]);
  }
}

export function forwardGradient(config: FGConfig): Estimator {
  checkKeys('forwardGradient', config, ['directions', 'perturb', 'tangent', 'surrogate', 'epsilon', 'localCredit']);
  const credit = config.localCredit ?? 'loss';
  checkOneOf('forwardGradient', 'localCredit', credit, LOCAL_CREDITS);
  checkInteger('forwardGradient', 'directions', config.directions, 1);
  const perturb = config.perturb ?? 'weights';
  const tangent = config.tangent ?? 'exact';
  checkOneOf('forwardGradient', 'perturb', perturb, PERTURBATIONS);
  checkOneOf('forwardGradient', 'tangent', tangent, TANGENTS);
  const epsilon = config.epsilon ?? 1e-3;
  checkPositive('forwardGradient', 'epsilon', epsilon);
  check(
    !(perturb === 'activities' && tangent === 'finite-difference'),
    () => "forwardGradient: finite-difference tangents perturb the weights; use perturb 'weights', or the exact tangent for activities",
  );
  const surrogate = config.surrogate ?? atan();
  const K = config.directions;
  return {
    name: `fg(${perturb}, ${tangent}, ${K} direction${K > 1 ? 's' : ''}${tangent === 'exact' ? `, ${surrogate.name}` : ''})`,
    estimate(net, batch, loss, seed = freshSeed()) {
      const B = batch.input.shape[0]!;
      if (tangent === 'exact') checkDifferentiable(loss, 'fg', NO_DERIVATIVE[perturb]);
      check(
        batch.labels.shape.length === 1 && batch.labels.shape[0] === B,
        () => `fg: labels must have shape [${B}] (one per sample), got ${show(batch.labels.shape)}`,
      );
      const r = perturb === 'weights' ? weightPerturbation(net, batch, loss, seed) : activityPerturbation(net, batch, loss, seed);
      check(Number.isFinite(r.loss), () => 'fg: the loss is not finite; check the inputs and the learning rate');
      return r;
    },
  };

  function weightPerturbation(net: Network, batch: Batch, loss: RowLoss, seed: number): GradientEstimate {
    const vars = deterministicParameters(net);
    const directionsOf = (k: number) => new Map(vars.map((x, i) => [x, normal(x.shape, streamKey(seed, k, i))] as const));
    const sums = new Map<tf.Variable, tf.Tensor>();
    if (tangent === 'exact') {
      // all K directions in one step-major pass: the primal once, memory flat in T
      const v = Array.from({ length: K }, (_, k) => directionsOf(k));
      const r = directionalDerivatives(net, batch, loss, v, surrogate);
      v.forEach((dirs, k) => dirs.forEach((dir, x) => accumulate(sums, x, tf.mul(dir, r.derivatives[k]! / K))));
      tf.dispose(v.flatMap((dirs) => [...dirs.values()]));
      return { gradients: sums, loss: r.loss, dispose: () => sums.forEach((g) => g.dispose()) };
    }
    for (let k = 0; k < K; k++) {
      const v = directionsOf(k);
      const d = finiteDifference(net, batch, loss, v, epsilon);
      v.forEach((dir, x) => accumulate(sums, x, tf.mul(dir, d / K)));
      tf.dispose([...v.values()]);
    }
    return { gradients: sums, loss: meanLoss(net, batch, loss), dispose: () => sums.forEach((g) => g.dispose()) };
  }

  function activityPerturbation(net: Network, batch: Batch, loss: RowLoss, seed: number): GradientEstimate {
    const [B, T] = batch.input.shape as [number, number];
    // a layer's coefficients and in-cell recurrent weights are not reached through its currents
    for (const l of net.layers) {
      const unreached = Object.keys(l.params).filter(
        (n) =>
          n !== 'noiseScale' &&
          !l.buffers?.includes(n) &&
          !l.mapParams.includes(n) &&
          !(n === 'recurrent' && l.recurrentVjp && l.recurrentCurrents) &&
          !(l.localHead && (LOCAL_HEAD_PARAMS as readonly string[]).includes(n)),
      );
      check(
        unreached.length === 0,
        () =>
          `fg-activity: layer '${l.name}' learns ${unreached.join(', ')}, which activity perturbation does not reach (it perturbs the currents a layer's map and recurrent weights produce); use fg (weights) or lr`,
      );
    }
    const constantInput = batch.constantInTime === true && T > 1;
    const first = constantInput ? net.layers.findIndex((l) => l.neuron !== undefined) : -1;
    // a readout the loss reads by its time mean is one map of its input's mean x̄ (not stepped), and
    // trained by its exact local gradient, as LR trains it: no direction on it
    const meanReadout = stepsMeanReadout(net, loss, T);
    const last = net.layers.length - 1;
    // K directions u on each trained layer's currents, one stream each; step t is its t-th slice
    const streams = net.layers.flatMap((layer, index) =>
      layer.neuron && layer.mapParams.length > 0 && !(meanReadout && index === last)
        ? Array.from({ length: K }, (_, k) => ({ index, key: streamKey(seed, index, k), shape: [B, ...currentShapeOf(layer)] }))
        : [],
    );
    if (streams.length === 0 && !meanReadout) return { gradients: new Map(), loss: meanLoss(net, batch, loss), dispose: () => undefined };
    const direction = (j: number, t: number) => normal(streams[j]!.shape, streams[j]!.key, t);
    // the directions of each perturbed layer, by layer index
    const streamsOf = new Map<number, number[]>();
    streams.forEach((s, j) => streamsOf.set(s.index, [...(streamsOf.get(s.index) ?? []), j]));
    // the layers a linear read of their time mean takes: a direction on one ends there and takes that read's credit
    const reads = linearReads(net, loss, T, credit !== 'loss');
    const stops = new Set(streams.flatMap((s, j) => (reads.has(s.index) ? [j] : [])));
    // pass 1, step-major (flat in T): the loss and every direction's derivative, split by sample
    const { output, tangents, taps, readoutInput } = tangentSteps(
      net,
      batch.input,
      streams.map(() => new Map()),
      surrogate,
      {
        constantInput,
        currentTangents: { layers: streams.map((s) => s.index), at: direction },
        ...(reads.size ? { taps: new Map([...reads].map(([i, r]) => [i, r.weights])), stops } : {}),
        ...(meanReadout ? { meanReadout } : {}),
      },
    );
    const r = lossTangents(output, tangents, loss, batch.labels);
    const sums = new Map<tf.Variable, tf.Tensor>();
    if (readoutInput) {
      // the readout's exact gradient: the loss's derivative on its mean, c·(x̄ A + b), through its local VJP
      const readout = net.layers[last]!;
      tf.tidy(() => {
        const dOut = tf.grad((out: tf.Tensor) => tf.mean(loss(out, batch.labels)))(output);
        const g = tf.reshape(tf.mul(meanReadout!.scale, dOut), [B, ...currentShapeOf(readout)]);
        for (const [name, grad] of Object.entries(readout.vjp(readoutInput, g)))
          if (readout.params[name]) accumulate(sums, readout.params[name]!, tf.keep(grad));
      });
    }
    tf.dispose([output, tangents, ...(readoutInput ? [readoutInput] : [])]);
    // each sample's current adjoint ≈ mean_k (∇ℓ_b · u_kb) u_kb (rows mixed by a graph layer: the total)
    const mixes = net.layers.some((l) => l.mixesRows === true);
    const scaled: tf.Tensor[] = r.rows.map((rows) =>
      tf.tensor1d(mixes ? new Float32Array(B).fill(rows.reduce((a, b) => a + b, 0) / K) : rows.map((v) => v / K)),
    );
    try {
      readDerivatives(net, taps, reads, credit === 'unit-all' ? 'all' : credit === 'unit', batch.labels, K, scaled, sums);
    } finally {
      for (const tap of taps.values()) tf.dispose([tap.sum, ...tap.tangents.values()]);
    }
    // pass 2: the primal again (the same spikes: no noise), each trained layer's adjoint formed
    // step by step from the regenerated directions and turned into gradients by its local VJP,
    // `chunk` steps to a product
    const chunk = Math.max(1, Math.ceil(Math.sqrt(T)));
    const pending = new Map<number, { xs: tf.Tensor[]; gs: tf.Tensor[]; constant?: tf.Tensor; x?: tf.Tensor; previous?: tf.Tensor }>();
    const flush = (index: number) => {
      const p = pending.get(index)!;
      if (p.xs.length === 0) return;
      const layer = net.layers[index]!;
      tf.tidy(() => {
        for (const [name, grad] of Object.entries(layer.vjp(tf.concat(p.xs), tf.concat(p.gs))))
          if (layer.params[name]) accumulate(sums, layer.params[name]!, tf.keep(grad));
      });
      tf.dispose([...p.xs, ...p.gs]);
      p.xs = [];
      p.gs = [];
    };
    try {
      const observed = tangentSteps(net, batch.input, [], surrogate, {
        constantInput,
        ...(meanReadout ? { meanReadout } : {}),
        observe: (index, t, x, out) => {
          const js = streamsOf.get(index);
          if (!js) return;
          const layer = net.layers[index]!;
          const p = pending.get(index) ?? { xs: [], gs: [] };
          pending.set(index, p);
          const rowsShape = [B, ...currentShapeOf(layer).map(() => 1)];
          // a row's weight, or (a head's layer) a weight per row and unit
          const g = tf.keep(tf.addN(js.map((j) => tf.mul(direction(j, t), scaled[j]!.rank > 1 ? scaled[j]! : tf.reshape(scaled[j]!, rowsShape)))));
          if (layer.recurrentVjp && layer.params['recurrent']) {
            // the recurrent current of step t is s_{t−1} V: Σ_t s_{t−1}ᵀ ĝ_t
            if (p.previous) accumulate(sums, layer.params['recurrent'], tf.keep(layer.recurrentVjp(p.previous, g)['recurrent']!));
            p.previous?.dispose();
            p.previous = tf.keep(out.clone());
          }
          if (index === first) {
            // the same input every step: Σ_t VJP(x; ĝ_t) = VJP(x; Σ_t ĝ_t)
            p.constant = addInto(p.constant, g);
            p.x ??= tf.keep(x.clone());
            return;
          }
          p.xs.push(tf.keep(x.clone()));
          p.gs.push(g);
          if (p.xs.length === chunk) flush(index);
        },
      });
      tf.dispose([observed.output, observed.tangents, ...(observed.readoutInput ? [observed.readoutInput] : [])]);
      for (const [index, p] of pending) {
        flush(index);
        if (p.constant) {
          p.xs = [p.x!];
          p.gs = [p.constant];
          p.x = p.constant = undefined;
          flush(index);
        }
      }
    } finally {
      for (const p of pending.values()) tf.dispose([...p.xs, ...p.gs, ...[p.constant, p.x, p.previous].filter((t): t is tf.Tensor => t !== undefined)]);
      tf.dispose(scaled);
    }
    // in the network's order of layers and parameters (reports list them so), not the order the sums completed in
    const ordered = new Map(
      net.layers
        .flatMap((l) => Object.values(l.params))
        .filter((v) => sums.has(v))
        .map((v) => [v, sums.get(v)!] as const),
    );
    return { gradients: ordered, loss: r.loss, dispose: () => ordered.forEach((g) => g.dispose()) };
  }
}

/**
 * The recipes: the LR recipe's network (784-500-10 LIF, 10 steps of direct input, batch 100, Adam,
 * cosine schedule), the learning rate and K chosen from 200-step runs on the full MNIST (2000 test
 * digits): fg with K = 8 reached 14% / 47% / 58% / 51% at η = 1e-4 / 1e-3 / 3e-3 / 1e-2, K = 1 at
 * 3e-3 30% (directions over 400k weights: K matters); fg-activity with K = 1 reached 80% / 83% / 81%
 * at 1e-3 / 3e-3 / 1e-2 and K = 4 87% at twice the time, so K = 1 for three epochs — where the
 * short horizon misled on η: over the three epochs 1e-3 ends at 91.53% (86.70, 91.26 on the way)
 * and 3e-3 at 91.41% (79.99, 89.42), so the recipe took 1e-3 — with Ren et al.'s row estimate.
 * With unit credit through the readout and local losses (issue 31) fg-activity takes 3e-3:
 * 784-512³-10, 20 000 digits (200 steps): 87.4% at 1e-3, 88.9% at 3e-3 (local losses with per-unit
 * credit on the heads' layers, before the readout's layer took unit credit too);
 * one full epoch with unit credit at 3e-3: 95.59%.
 */
const fgDefaults: Partial<TrainConfig> = {
  hidden: [500],
  beta: 0.9,
  readoutBeta: 0.9,
  steps: 10,
  encoding: 'direct',
  learningRate: 3e-3,
  schedule: 'cosine',
  batchSize: 100,
  epochs: 1,
};

const fgActivityDefaults: Partial<TrainConfig> = { ...fgDefaults, directions: 1, epochs: 3, learningRate: 3e-3 };

/** `--method fg`: forward gradients with weight perturbation (K = 8, Adam 3e-3, one epoch). */
export const fgMethod = {
  name: 'fg',
  description: 'forward gradients, directions on the weights (Baydin et al. 2022)',
  defaults: fgDefaults,
  samples: 'directions',
  needs: (c) => ({ derivative: c.tangent === 'exact', instead: NO_DERIVATIVE.weights }),
  estimator: (c) =>
    forwardGradient({
      directions: c.directions,
      perturb: 'weights',
      tangent: c.tangent,
      surrogate: surrogateByName(c.surrogate, c.surrogateScale, c.surrogateFormula),
    }),
} satisfies Method;

/** `--method fg-activity`: forward gradients with activity perturbation (K = 1, Adam 1e-3, three epochs). */
export const fgActivityMethod = {
  name: 'fg-activity',
  description: "forward gradients, directions on each layer's currents (Ren et al. 2022)",
  defaults: fgActivityDefaults,
  samples: 'directions',
  needs: () => ({ derivative: true, instead: NO_DERIVATIVE.activities }),
  localLosses: { auto: true },
  estimator: (c) =>
    forwardGradient({
      directions: c.directions,
      perturb: 'activities',
      tangent: 'exact',
      surrogate: surrogateByName(c.surrogate, c.surrogateScale, c.surrogateFormula),
      localCredit: c.localCredit,
    }),
} satisfies Method;
