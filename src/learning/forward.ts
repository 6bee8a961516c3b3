/**
 * The LR forward pass: one pass with K noise copies per sample, recording for each trained layer
 * what its own gradient needs and nothing more (DESIGN.md §1, §4): its input, and per step its
 * seed (the score ψ_t, zero while refractory), spikes and, for a learned decay, membranes.
 *
 * Everything upstream of the first noisy layer is computed once per sample (rows = B) and the
 * copies are made where the noise begins (rows = K·B, copy-major), so a first hidden layer fed
 * by the data computes its currents once for all copies.
 */
import * as tf from '@tensorflow/tfjs';
import { initialState, neuronStep, stateTensors, type NeuronState } from '../neurons/dynamics.js';
import { activate, fireFor, noiseSigma, spikesFromUniforms, type Fire } from '../neurons/firing.js';
import { firingProbability, logSigmaNoiseScore, noiseScore, spikeScore, type EscapeNoise } from '../neurons/noise.js';
import { isSpiking, isUnit } from '../neurons/params.js';
import { currentShapeOf, type Layer } from '../sim/layer.js';
import { release, runSequence, timeMajorRows } from '../sim/loop.js';
import type { Network } from '../sim/network.js';
import { streamKey } from '../sim/random.js';
import { copyNoise, copyUniformsTensor, type CopyPlan } from './sampling.js';

export type ScoreKind = 'spike' | 'noise';

export interface LayerTrace {
  readonly layer: Layer;
  readonly index: number;
  /** 'lr': a noisy spiking layer (seeds are scores); 'local': the deterministic readout. */
  readonly kind: 'lr' | 'local';
  /** The layer's input, time-major rows `[T·inputRows, …in]`. */
  readonly input: tf.Tensor;
  readonly inputRows: number;
  readonly rows: number;
  /**
   * Per step `[rows, …N]`: ψ_t for 'lr' layers with the spike score; filled with ∂L/∂u_t later for
   * 'local' ones. Empty when the seeds are regenerated from the noise stream ({@link regenerate}).
   */
  seeds: tf.Tensor[];
  /** Noise-score layers: recomputes step t's seed and σ-score from the counter stream, stores nothing. */
  readonly regenerate?: (t: number) => { readonly seed: tf.Tensor; readonly sigmaSeed?: tf.Tensor };
  /** Per step s_t `[rows, …N]` ('lr' layers). */
  readonly spikes: tf.Tensor[];
  /** Per step u_t, kept only when the decay is learned. */
  readonly membranes: tf.Tensor[];
  /** Per step 1 where the neuron was not refractory (only with a refractory period). */
  readonly open: tf.Tensor[];
  /** Per step ∂ log p/∂ log σ (only when the noise scale is learned). */
  readonly sigmaSeeds: tf.Tensor[];
}

export interface CopyForward {
  /** Output sequence `[T, rows, …C]` (readout membrane or last layer's spikes). */
  readonly output: tf.Tensor;
  readonly rows: number;
  readonly traces: LayerTrace[];
  dispose(): void;
}

export interface CopyForwardOptions {
  readonly plan: CopyPlan;
  /** Noise for each layer index, undefined where the layer fires deterministically. */
  readonly noise: readonly (EscapeNoise | undefined)[];
  readonly score: ScoreKind;
  /** Sign-compress the scores (approximated LR). */
  readonly signScores: boolean;
  readonly seed: number;
  /** Record what the gradients of noisy layers and the readout need. */
  readonly train: boolean;
}

export function copyForward(net: Network, input: tf.Tensor, o: CopyForwardOptions): CopyForward {
  const [batch, steps] = input.shape as [number, number];
  const K = o.plan.copies;
  let rows = batch;
  let x = timeMajorRows(input, net.inputShape);
  const traces: LayerTrace[] = [];
  net.layers.forEach((layer, index) => {
    const neuron = layer.neuron;
    if (!neuron) {
      const y = layer.currents(x);
      x.dispose();
      x = y;
      return;
    }
    const noise = isUnit(neuron) ? o.noise[index] : undefined;
    const inputRows = rows;
    const currents = tf.tidy(() => tf.reshape(layer.currents(x), [steps, rows, ...currentShapeOf(layer)]));
    // The copies begin here: the shared currents broadcast against a [K, B, …N] state (no tiling).
    if (noise && rows === batch && K > 1) rows = K * batch;
    const isLast = index === net.layers.length - 1;
    const trained = o.train && (noise !== undefined || (neuron.kind === 'readout' && isLast));
    let out: tf.Tensor;
    if (noise) {
      const trace = noisyLayer(layer, currents, noise, o, streamKey(o.seed, index), batch, rows);
      out = trace.output;
      if (trained) {
        traces.push({
          layer, index, kind: 'lr', input: x, inputRows, rows, seeds: trace.seeds, spikes: trace.spikes, membranes: trace.membranes,
          open: trace.open, sigmaSeeds: trace.sigmaSeeds, ...(trace.regenerate ? { regenerate: trace.regenerate } : {}),
        });
      }
      else trace.dispose();
    } else {
      const isReadout = neuron.kind === 'readout';
      const seq = runSequence(neuron, currents, initialState(neuron, [rows, ...layer.outputShape]), fireFor(neuron), {
        keepSpikes: !isReadout,
        keepMembrane: isReadout,
        recurrent: layer.recurrentCurrents,
        coefficients: layer.coefficients,
      });
      for (const t of stateTensors(seq.state)) t.dispose();
      out = isReadout ? seq.membrane! : seq.spikes!;
      if (trained) traces.push({ layer, index, kind: 'local', input: x, inputRows, rows, seeds: [], spikes: [], membranes: [], open: [], sigmaSeeds: [] });
    }
    currents.dispose();
    if (!trained) x.dispose();
    x = isLast ? out : tf.reshape(out, [steps * rows, ...layer.outputShape]);
    if (!isLast) out.dispose();
  });
  const output = x.rank === net.outputShape.length + 2 ? x : tf.reshape(x, [steps, rows, ...net.outputShape]);
  if (output !== x) x.dispose();
  return {
    output,
    rows,
    traces,
    dispose() {
      output.dispose();
      for (const tr of traces) {
        tr.input.dispose();
        tf.dispose([...tr.seeds, ...tr.spikes, ...tr.membranes, ...tr.open, ...tr.sigmaSeeds]);
      }
    },
  };
}

interface NoisyTrace {
  readonly output: tf.Tensor;
  readonly seeds: tf.Tensor[];
  readonly spikes: tf.Tensor[];
  readonly membranes: tf.Tensor[];
  readonly open: tf.Tensor[];
  readonly sigmaSeeds: tf.Tensor[];
  readonly regenerate?: LayerTrace['regenerate'];
  dispose(): void;
}

/** Runs a noisy spiking layer over `currents` `[T, rows, …N]`, recording scores. */
function noisyLayer(layer: Layer, currents: tf.Tensor, noise: EscapeNoise, o: CopyForwardOptions, key: number, batch: number, rows: number): NoisyTrace {
  const neuron = layer.neuron!;
  // copy-major [K, B, …N] (rows k·B + b), so that currents shared by the copies broadcast
  const shape = [rows / batch, batch, ...layer.outputShape];
  const currentShape = [rows / batch, batch, ...currentShapeOf(layer)];
  const flat = (t: tf.Tensor) => tf.reshape(t, [rows, ...t.shape.slice(2)]);
  const perRow = currentShapeOf(layer).reduce((a, b) => a * b, 1);
  const copies = rows / batch;
  const plan = copies === o.plan.copies ? o.plan : { ...o.plan, copies: 1, group: 1 };
  // the membrane: for a learned decay (u_{t−1}), and for a GRU (its reset gate r_t = σ(a_r))
  const keepMembrane = o.train && (layer.coefficients.beta !== undefined || neuron.kind === 'gru');
  const seeds: tf.Tensor[] = [], spikes: tf.Tensor[] = [], membranes: tf.Tensor[] = [], open: tf.Tensor[] = [], sigmaSeeds: tf.Tensor[] = [];
  const learnSigma = o.train && layer.coefficients.noiseScale !== undefined;
  // The noise score is a function of ε alone, which the counter stream regenerates: store nothing.
  const usesNoiseScore = o.score === 'noise' || !isSpiking(neuron);
  const storeScores = o.train && !usesNoiseScore;
  const spikeScored = isSpiking(neuron) && !usesNoiseScore;
  // σ_n = σ·exp(s_n) when the noise scale is learned (broadcast over the neuron axis)
  const sigmaOf = () => noiseSigma(noise, layer.coefficients.noiseScale);
  let state: NeuronState = initialState(neuron, shape);
  const drives = tf.unstack(currents);
  const sigma = noise.sigma;
  const perCopy = currents.shape[1] === rows && rows !== batch;
  for (let t = 0; t < drives.length; t++) {
    // per-copy currents [K·B, …N] viewed as [K, B, …N]; shared ones [B, …N] broadcast as they are
    // (an analog unit has no state to broadcast against, so its shared currents are broadcast here)
    const drive = perCopy ? tf.reshape(drives[t]!, currentShape) : neuron.kind === 'analog' ? tf.broadcastTo(drives[t]!, shape) : drives[t]!;
    if (drive !== drives[t]) drives[t]!.dispose();
    const input = layer.recurrentCurrents
      ? tf.tidy(() => tf.add(drive, tf.reshape(layer.recurrentCurrents!(flat(state.spikes)), shape)))
      : drive;
    let score: tf.Tensor | undefined;
    let sigmaScore: tf.Tensor | undefined;
    const fire: Fire = (u, threshold, step) =>
      tf.tidy(() => {
        const sigma = sigmaOf();
        if (spikeScored) {
          // one uniform per neuron-step (see spikesFromUniforms); the spike score needs only z and s
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
        }
        // noise-score units (the score is regenerated from ε later, nothing stored): a spiking unit
        // fires on u + σε > ϑ; an analog unit outputs φ(I + σε); a GRU's pre-activations are perturbed by σε
        const eps = tf.tensor(copyNoise(noise.kind, plan, key, step, batch, perRow), u.shape);
        const noisy = tf.add(u, tf.mul(eps, sigma));
        return neuron.kind === 'analog' ? activate(neuron.activation, noisy) : neuron.kind === 'gru' ? noisy : tf.step(tf.sub(noisy, threshold));
      });
    const gate = state.refractory ? tf.tidy(() => tf.cast(tf.lessEqual(state.refractory!, 0), 'float32')) : undefined;
    const next = neuronStep(input, state, neuron, fire, t, layer.coefficients);
    if (input !== drive) input.dispose();
    drive.dispose();
    if (storeScores) {
      seeds.push(tf.tidy(() => flat(gate ? tf.mul(gate, score!) : score!)));
      score!.dispose();
      if (sigmaScore) {
        sigmaSeeds.push(tf.tidy(() => flat(gate ? tf.mul(gate, sigmaScore!) : sigmaScore!)));
        sigmaScore.dispose();
      }
    }
    if (o.train) {
      if (gate) open.push(flat(gate));
      if (keepMembrane) membranes.push(flat(next.membrane));
    }
    gate?.dispose();
    spikes.push(flat(next.spikes));
    release(state, next);
    state = next;
  }
  for (const t of stateTensors(state)) t.dispose();
  const output = tf.stack(spikes);
  if (!o.train) tf.dispose(spikes);
  const regenerate = o.train && usesNoiseScore
    ? (t: number) =>
        tf.tidy(() => {
          const sigma = sigmaOf();
          const eps = tf.tensor(copyNoise(noise.kind, plan, key, t, batch, perRow), currentShape);
          let psi = noiseScore(noise.kind, eps, sigma);
          if (o.signScores) psi = tf.div(tf.sign(psi), sigma);
          const mask = (x: tf.Tensor) => flat(open.length ? tf.mul(tf.reshape(open[t]!, currentShape), x) : x);
          return { seed: mask(psi), ...(learnSigma ? { sigmaSeed: mask(logSigmaNoiseScore(noise.kind, eps)) } : {}) };
        })
    : undefined;
  return {
    output,
    seeds,
    ...(regenerate ? { regenerate } : {}),
    spikes: o.train ? spikes : [],
    membranes,
    open,
    sigmaSeeds,
    dispose() {
      tf.dispose([...seeds, ...(o.train ? spikes : []), ...membranes, ...open, ...sigmaSeeds]);
    },
  };
}
