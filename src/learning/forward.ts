/**
 * The LR forward pass: one pass with K noise copies per sample, recording for each trained layer
 * what its own gradient needs and nothing more (DESIGN.md §1, §4): its input, and per step its
 * seed (the score ψ_t, zero where no firing was decided), its spikes and whatever state fields its
 * neuron model's reverse filter reads (`adjointFields`).
 *
 * Everything upstream of the first noisy layer is computed once per sample (rows = B) and the
 * copies are made where the noise begins (rows = K·B, copy-major), so a first hidden layer fed
 * by the data computes its currents once for all copies.
 */
import * as tf from '@tensorflow/tfjs';
import type { CopyForward, CopyForwardOptions, LayerTrace } from './traces.js';

export type { CopyForward, CopyForwardOptions, LayerTrace, ScoreKind } from './traces.js';
import { noiseSigma, spikesFromUniforms } from '../neurons/firing.js';
import { stateTensors, type AdjointTrace, type Coefficients, type Fire, type NeuronModel, type NeuronState } from '../neurons/model.js';
import { firingProbability, logSigmaNoiseScore, noiseScore, spikeScore, type EscapeNoise } from '../neurons/noise.js';
import { modelOf, type NeuronParams } from '../neurons/registry.js';
import { currentShapeOf, type Layer } from '../sim/layer.js';
import { meanReadout, outputField, passLayers, population, runFields, timeLoop } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../core/random.js';
import { copyNoise, copyUniformsTensor } from './sampling.js';
import { timeMean } from '../kernels/weighted-steps.js';

/**
 * The stored fields as a reverse filter reads them: step −1 is `before` (the state a chunk starts
 * from; zeros at rest), step T is `after` (the next chunk's first step).
 */
function adjointTrace(
  fields: Readonly<Record<string, tf.Tensor[]>>,
  before?: Readonly<Record<string, tf.Tensor>>,
  after?: Readonly<Record<string, tf.Tensor>>,
): AdjointTrace {
  return {
    has: (f) => (fields[f]?.length ?? 0) > 0,
    at(f, t) {
      const list = fields[f];
      if (!list || list.length === 0) throw new Error(`adjoint trace: field '${f}' was not stored`);
      if (t < 0) return before?.[f] ?? tf.zerosLike(list[0]!);
      if (t >= list.length) {
        const next = after?.[f];
        if (!next) throw new Error(`adjoint trace: field '${f}' at step ${t} is past the end of the stored steps`);
        return next;
      }
      return list[t]!;
    },
  };
}

export function copyForward(net: Network, input: tf.Tensor, o: CopyForwardOptions): CopyForward {
  const [from, to] = o.layers ?? [0, net.layers.length];
  const batch = o.timeMajor ? o.timeMajor.batch : input.shape[0]!;
  const steps = input.shape[o.timeMajor ? 0 : 1]!;
  const inputShape = from === 0 ? net.inputShape : net.layers[from - 1]!.outputShape;
  const K = o.plan.copies;
  const traces: LayerTrace[] = [];
  const states = new Map<number, NeuronState>();
  const befores: Record<string, tf.Tensor>[] = [];
  const taps = new Map<number, tf.Tensor>();
  const tap = (index: number, output: tf.Tensor) => {
    // one pass over the steps (the stock mean over the leading axis transposes all of a conv layer's output first)
    if (o.taps?.has(index)) taps.set(index, timeMean(output));
  };
  const firstStep = o.chunk?.firstStep ?? 0;
  const startOf = (index: number, model: NeuronModel<NeuronParams>, neuron: NeuronParams, shape: readonly number[]) =>
    o.chunk?.states?.get(index) ?? model.initialState(neuron, shape);
  const finish = (index: number, state: NeuronState) => {
    if (o.chunk?.keepStates) states.set(index, state);
    else for (const t of stateTensors(state)) t.dispose();
  };
  const { output, rows } = passLayers(
    net.layers.slice(from, to),
    inputShape,
    input,
    ({ layer, index: local, input: x, rows, drives, constant }) => {
      const index = from + local;
      const isLast = index === net.layers.length - 1;
      const neuron = layer.neuron!;
      const model = modelOf(neuron) as NeuronModel<NeuronParams>;
      const noise = model.role !== 'readout' ? o.noise[index] : undefined;
      // The copies begin here: the shared currents broadcast against a [K, B, …N] state (no tiling).
      const outRows = noise && rows === batch && K > 1 ? K * batch : rows;
      const trained = o.train && (noise !== undefined || (model.role === 'readout' && isLast));
      const base = { layer, index, input: x, constantInput: constant, inputRows: rows, rows: outRows, steps, learned: new Set(layer.learned) };
      if (noise) {
        const shape = [outRows / batch, batch, ...layer.outputShape];
        const trace = noisyLayer(layer, model, drives(), noise, o, streamKey(o.seed, index), batch, outRows, startOf(index, model, neuron, shape), firstStep);
        finish(index, trace.last);
        if (model.role === 'spiking' && !isLast) o.chunk?.spikes?.(index, trace.output);
        tap(index, trace.output);
        if (trained) {
          const fields = trace.fields;
          const edge = o.chunk?.edges?.get(index);
          befores.push(trace.before);
          traces.push({
            ...base,
            kind: 'lr',
            seeds: trace.seeds,
            sigmaSeeds: trace.sigmaSeeds,
            fields,
            trace: adjointTrace(fields, trace.before, edge),
            ...(trace.regenerate ? { regenerate: trace.regenerate } : {}),
          });
        } else trace.dispose();
        return { output: trace.output, rows: outRows, keepInput: trained };
      }
      const mean = o.meanOutput && isLast && !o.chunk ? meanReadout(layer, x, steps, rows, constant) : undefined;
      if (mean) {
        if (trained) traces.push(meanReadoutTrace(layer, index, mean.input, rows, mean.scale, steps));
        else if (mean.input !== x) mean.input.dispose();
        return { output: mean.output, keepInput: trained && mean.input === x };
      }
      const out = outputField(neuron);
      const seq = runFields(
        population(layer),
        drives(),
        startOf(index, model, neuron, [rows, ...layer.outputShape]),
        model.fire(neuron, undefined, 0),
        [out],
        firstStep,
      );
      finish(index, seq.state);
      tap(index, seq.fields[out]!);
      if (trained) traces.push({ ...base, kind: 'local', seeds: [], sigmaSeeds: [], fields: {}, trace: adjointTrace({}) });
      return { output: seq.fields[out]!, keepInput: trained };
    },
    { constantInput: o.constantInput === true, timeMajor: o.timeMajor !== undefined },
  );
  return {
    output,
    rows,
    traces,
    states,
    taps,
    dispose() {
      output.dispose();
      tf.dispose([...taps.values()]);
      for (const tr of traces) {
        tr.input.dispose();
        tf.dispose([...tr.seeds, ...tr.sigmaSeeds, ...Object.values(tr.fields).flat()]);
      }
      tf.dispose(befores.flatMap((b) => Object.values(b)));
    },
  };
}

/**
 * The trace of a readout read by its time mean ({@link meanReadout}): one step whose input is the
 * time-weighted x̄ `[rows, …in]` (owned by the trace), its seeds scaled by c; lr.ts's
 * `readoutGradients` turns it into the readout's gradients.
 */
export function meanReadoutTrace(layer: Layer, index: number, input: tf.Tensor, rows: number, scale: number, meanSteps?: number): LayerTrace {
  return {
    ...(meanSteps !== undefined ? { meanSteps } : {}),
    layer,
    index,
    kind: 'local',
    input,
    constantInput: false,
    inputRows: rows,
    rows,
    steps: 1,
    seedScale: scale,
    learned: new Set(layer.learned),
    seeds: [],
    sigmaSeeds: [],
    fields: {},
    trace: adjointTrace({}),
  };
}

interface NoisyTrace {
  readonly output: tf.Tensor;
  /** The state after the last step (the caller owns it). */
  readonly last: NeuronState;
  /** The stored fields of the state the run started from, as rows (empty at rest). */
  readonly before: Record<string, tf.Tensor>;
  readonly seeds: tf.Tensor[];
  readonly sigmaSeeds: tf.Tensor[];
  readonly fields: Record<string, tf.Tensor[]>;
  readonly regenerate?: LayerTrace['regenerate'];
  dispose(): void;
}

/**
 * Runs a noisy layer over per-step currents `[rows, …N]` (consumed) from `initial` (consumed; steps
 * numbered from `firstStep` for the noise stream), recording scores and what its reverse filter reads.
 */
function noisyLayer(
  layer: Layer,
  model: NeuronModel<NeuronParams>,
  currents: tf.Tensor[],
  noise: EscapeNoise,
  o: CopyForwardOptions,
  key: number,
  batch: number,
  rows: number,
  initial: NeuronState,
  firstStep: number,
): NoisyTrace {
  const neuron = layer.neuron!;
  // the state is copy-major [K, B, …N] (rows k·B + b), so that currents shared by the copies broadcast
  const currentShape = [rows / batch, batch, ...currentShapeOf(layer)];
  const flat = (t: tf.Tensor) => tf.reshape(t, [rows, ...t.shape.slice(2)]);
  const perRow = currentShapeOf(layer).reduce((a, b) => a * b, 1);
  const copies = rows / batch;
  const plan = copies === o.plan.copies ? o.plan : { ...o.plan, copies: 1, group: 1 };
  const learned = new Set(layer.learned);
  const keepFields = o.train ? model.adjointFields(neuron, learned).filter((f) => f !== 'spikes') : [];
  const sigmaScale = layer.coefficients['noiseScale'];
  const learnSigma = o.train && sigmaScale !== undefined;
  // The noise score is a function of ε alone, which the counter stream regenerates: store nothing.
  const spikeScored = model.role === 'spiking' && o.score === 'spike';
  const storeScores = o.train && spikeScored;
  const deterministic = model.fire(neuron, undefined, 0);
  const sigmaOf = () => noiseSigma(noise, sigmaScale);
  const seeds: tf.Tensor[] = [],
    sigmaSeeds: tf.Tensor[] = [],
    open: tf.Tensor[] = [];
  const fields: Record<string, tf.Tensor[]> = Object.fromEntries(['spikes', ...keepFields].map((f) => [f, []]));
  // a chunk after the first starts from a stored state: step −1 of its trace (a reshape keeps the data alive)
  const before: Record<string, tf.Tensor> = {};
  if (o.train && firstStep > 0) for (const f of ['spikes', ...keepFields]) if (initial[f]) before[f] = flat(initial[f]!);
  const perCopy = currents[0]!.shape[0] === rows && rows !== batch;
  const drives = currents.map((d) => {
    if (!perCopy) return d;
    // per-copy currents [K·B, …N] viewed as [K, B, …N]; shared ones [B, …N] broadcast as they are
    const v = tf.reshape(d, currentShape);
    d.dispose();
    return v;
  });
  let score: tf.Tensor | undefined;
  let sigmaScore: tf.Tensor | undefined;
  let gate: tf.Tensor | undefined;
  const fire: Fire = spikeScored
    ? (u, threshold, step) =>
        tf.tidy(() => {
          // one uniform per neuron-step (see spikesFromUniforms); the spike score needs only z and s
          const sigma = sigmaOf();
          const z = tf.div(tf.sub(u, threshold), sigma);
          const uniforms = copyUniformsTensor(plan, key, step, batch, perRow, u.shape);
          const p = firingProbability(noise.kind, z);
          const s = spikesFromUniforms(uniforms, p);
          if (storeScores) {
            let psi = spikeScore(noise.kind, s, z, sigma, p);
            // ∂ log p/∂ log σ = −z·σψ = −(u − ϑ)ψ
            if (learnSigma) sigmaScore = tf.keep(tf.neg(tf.mul(tf.sub(u, threshold), psi)));
            if (o.signScores) psi = tf.div(tf.sign(psi), sigma);
            score = tf.keep(psi);
          }
          return s;
        })
    : // noise-score units (the score is regenerated from ε later, nothing stored): the unit's own
      // deterministic firing of its perturbed input, u + σε (a spike when it crosses ϑ, φ(I + σε), …)
      (u, threshold, step) =>
        tf.tidy(() => {
          const eps = tf.tensor(copyNoise(noise.kind, plan, key, step, batch, perRow), u.shape);
          return deterministic(tf.add(u, tf.mul(eps, sigmaOf())), threshold, step);
        });
  // LIF with logistic noise and the spike score: one kernel a step on wasm (the model says when)
  const fused =
    spikeScored && !o.signScores && !learnSigma && keepFields.length === 0
      ? model.fusedNoisyStep?.(neuron, { noise, score: storeScores, coefficients: layer.coefficients as Coefficients })
      : undefined;
  const fusedStep =
    fused &&
    ((input: tf.Tensor, state: NeuronState, step: number) => {
      const uniforms = copyUniformsTensor(plan, key, step, batch, perRow, [...state.membrane.shape]);
      const r = fused(input, state, uniforms);
      uniforms.dispose();
      if (r.score) score = r.score;
      return r.state;
    });
  const last = timeLoop(population(layer), drives, initial, {
    fire,
    ...(fusedStep ? { step: fusedStep } : {}),
    firstStep,
    before: (_t, previous) => {
      gate = model.decides?.(neuron, previous);
    },
    observe: (_t, input, _previous, next) => {
      const masked = (x: tf.Tensor) => tf.tidy(() => flat(gate ? tf.mul(gate, x) : x));
      if (storeScores) {
        seeds.push(masked(score!));
        score!.dispose();
        if (sigmaScore) {
          sigmaSeeds.push(masked(sigmaScore));
          sigmaScore.dispose();
        }
      }
      if (gate) {
        if (o.train) open.push(flat(gate));
        gate.dispose();
      }
      fields['spikes']!.push(flat(next.spikes));
      for (const f of keepFields) {
        const v = f === 'current' ? tf.tidy(() => flat(tf.add(input, tf.zeros(currentShape)))) : flat(next[f]!);
        fields[f]!.push(v);
      }
    },
  });
  const output = tf.stack(fields['spikes']!);
  if (!o.train) tf.dispose(Object.values(fields).flat());
  if (open.length) fields['open'] = open;
  const regenerate =
    o.train && !spikeScored
      ? (t: number) =>
          tf.tidy(() => {
            const sigma = sigmaOf();
            const eps = tf.tensor(copyNoise(noise.kind, plan, key, firstStep + t, batch, perRow), currentShape);
            let psi = noiseScore(noise.kind, eps, sigma);
            if (o.signScores) psi = tf.div(tf.sign(psi), sigma);
            const mask = (x: tf.Tensor) => flat(open.length ? tf.mul(tf.reshape(open[t]!, currentShape), x) : x);
            return { seed: mask(psi), ...(learnSigma ? { sigmaSeed: mask(logSigmaNoiseScore(noise.kind, eps)) } : {}) };
          })
      : undefined;
  const kept = o.train ? fields : {};
  return {
    output,
    last,
    before,
    seeds,
    sigmaSeeds,
    fields: kept,
    ...(regenerate ? { regenerate } : {}),
    dispose() {
      tf.dispose([...seeds, ...sigmaSeeds, ...Object.values(kept).flat(), ...Object.values(before)]);
    },
  };
}
