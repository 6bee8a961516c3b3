import { check, checkInteger, checkKeys, checkOneOf, checkPositive } from '../../core/errors.js';
import { noiseFromRecord, parseNoise, type EscapeNoise } from '../../neurons/noise.js';
import { modelOf } from '../../neurons/registry.js';
import type { Network } from '../../sim/network.js';
import type { ScoreKind } from '../forward.js';
import type { TrainConfig } from '../config.js';
import { copyPlan, groupCount, type CopyPlan, type Sampling } from '../sampling.js';
import { BASELINES, type Baseline } from './lr-gradients.js';
import { LOCAL_CREDITS, type LocalCredit } from './lr-blocks.js';

export interface LRConfig {
  /** Noise copies K per sample. */
  readonly copies: number;
  /** Escape noise of every spiking layer, or per layer name (layers not named fire deterministically). */
  readonly noise: EscapeNoise | Readonly<Record<string, EscapeNoise>>;
  /** Escape noise of the named layers in place of `noise` (which must then be one noise for every layer). */
  readonly layerNoise?: Readonly<Record<string, EscapeNoise>>;
  /**
   * σ of a recurrent layer as a multiple of the one noise's (default 1; a layer `layerNoise` names
   * keeps its own): a spike flipped by noise reaches every unit again through V at every later step.
   */
  readonly recurrentNoiseScale?: number;
  /** 'spike' (default, lower variance) or 'noise'. */
  readonly score?: ScoreKind;
  /** 'loo' (default): mean loss of the sample's other independent copies; 'noise-free': the loss without noise. */
  readonly baseline?: Baseline;
  readonly sampling?: Sampling;
  /** Copies per QMC group (a power of two dividing `copies`; default all copies in one group). */
  readonly qmcGroup?: number;
  /** Approximated LR: scores replaced by sign(ψ)/σ. Biased for Gaussian and logistic noise. */
  readonly signScores?: boolean;
  /**
   * Rows of a copy interact (graph layers mix nodes), so every score of a copy is weighted by the
   * copy's mean loss over all its rows instead of its own row's loss. Default: on when the
   * network has a graph layer.
   */
  readonly coupled?: boolean;
  /**
   * Layer-wise injection: noise in one layer at a time, one forward pass per noisy layer, each
   * with its own number of copies (`true`: `copies` for every layer). A layer's gradient then comes
   * from the pass in which only it is noisy; the readout's from a noise-free pass.
   */
  readonly layerwise?: true | Readonly<Record<string, number>>;
  /**
   * Time chunks (gradient checkpointing): the pass runs in chunks of this many steps and keeps only
   * each chunk's starting state, then reruns the chunks last to first with the same noise for the
   * gradient, so memory grows with T/C + C steps instead of T, for one more forward pass.
   * 'auto': ⌈√T⌉. Default: one pass over all steps.
   */
  readonly timeChunk?: number | 'auto';
  /**
   * How a layer read by a linear map of its time mean (a local head, or a readout read by its mean)
   * weights its scores (unit-credit.ts): 'loss' (default), every unit by its block's loss L − b — exact
   * LR of the block's expected loss, with the whole layer's noise in each unit's estimate; 'unit',
   * each unit by its own linearised share of that loss — far less variance, exact for a loss linear
   * in the mean (the recipe's choice: `--local-credit`).
   */
  readonly localCredit?: LocalCredit;
  /**
   * Unit credit step by step (default true): a spike's score at step t is weighted by its unit's
   * output from t on (R_t − R_t′ with R_t = Σ_{τ≥t} a_τ s_τ) instead of the whole run's s̄ − s̄′ — the
   * outputs before t cannot depend on the decision at t, so their terms only add variance.
   */
  readonly causalCredit?: boolean;
}
/** An LR configuration, checked and with its defaults filled in. */
export interface Resolved {
  readonly plan: CopyPlan;
  readonly score: ScoreKind;
  readonly baseline: Baseline;
  readonly signScores: boolean;
  readonly noise: LRConfig['noise'];
  readonly coupled?: boolean;
  readonly layerwise?: LRConfig['layerwise'];
  readonly sampling: Sampling;
  readonly qmcGroup?: number;
  readonly timeChunk?: number | 'auto';
  readonly localCredit: LocalCredit;
  readonly causalCredit: boolean;
  readonly layerNoise?: LRConfig['layerNoise'];
  readonly recurrentNoiseScale: number;
}

export function validate(config: LRConfig): Resolved {
  checkKeys('likelihoodRatio', config, [
    'copies',
    'noise',
    'score',
    'baseline',
    'sampling',
    'qmcGroup',
    'signScores',
    'coupled',
    'layerwise',
    'timeChunk',
    'localCredit',
    'causalCredit',
    'layerNoise',
    'recurrentNoiseScale',
  ]);
  if (config.recurrentNoiseScale !== undefined) checkPositive('likelihoodRatio', 'recurrentNoiseScale', config.recurrentNoiseScale);
  checkOneOf('likelihoodRatio', 'localCredit', config.localCredit ?? 'loss', LOCAL_CREDITS);
  check(
    config.causalCredit === undefined || typeof config.causalCredit === 'boolean',
    () => `likelihoodRatio: causalCredit must be true or false, got ${JSON.stringify(config.causalCredit)}`,
  );
  if (config.timeChunk !== undefined && config.timeChunk !== 'auto')
    checkInteger('likelihoodRatio', "timeChunk (steps per chunk, or 'auto')", config.timeChunk, 1);
  checkInteger('likelihoodRatio', 'copies', config.copies, 1);
  const plan = copyPlan(config.copies, config.sampling ?? 'mc', config.qmcGroup);
  const score = config.score ?? 'spike';
  checkOneOf('likelihoodRatio', 'score', score, ['spike', 'noise'] as const);
  const baseline = config.baseline ?? (groupCount(plan) > 1 ? 'loo' : 'none');
  checkOneOf('likelihoodRatio', 'baseline', baseline, BASELINES);
  check(
    baseline !== 'loo' || groupCount(plan) > 1,
    () =>
      `likelihoodRatio: baseline 'loo' needs at least two independent groups of copies; ${config.copies} copies with sampling '${plan.sampling}' make ${groupCount(plan)}`,
  );
  check(
    typeof config.noise === 'object' && config.noise !== null,
    () => 'likelihoodRatio: noise must be escapeNoise(kind, sigma) or a map from layer name to one',
  );
  if ('kind' in config.noise) noiseFromRecord(config.noise, 'likelihoodRatio: noise');
  else for (const [name, n] of Object.entries(config.noise)) noiseFromRecord(n, `likelihoodRatio: noise for '${name}'`);
  if (config.layerNoise !== undefined) {
    check(
      'kind' in config.noise,
      () => 'likelihoodRatio: layerNoise overrides one noise for every layer; with noise already a map by layer, name every layer there instead',
    );
    for (const [name, n] of Object.entries(config.layerNoise)) noiseFromRecord(n, `likelihoodRatio: layerNoise for '${name}'`);
  }
  if (config.layerwise !== undefined && config.layerwise !== true) {
    check(
      typeof config.layerwise === 'object' && config.layerwise !== null,
      () => `likelihoodRatio: layerwise must be true or a map from layer name to copies, got ${JSON.stringify(config.layerwise)}`,
    );
    for (const [name, k] of Object.entries(config.layerwise)) {
      checkInteger('likelihoodRatio', `layerwise copies for '${name}'`, k, 1);
      copyPlan(k, plan.sampling, config.qmcGroup === undefined ? undefined : Math.min(config.qmcGroup, k));
    }
  }
  return {
    plan,
    score,
    baseline,
    signScores: config.signScores ?? false,
    noise: config.noise,
    ...(config.layerNoise !== undefined ? { layerNoise: config.layerNoise } : {}),
    coupled: config.coupled,
    layerwise: config.layerwise,
    sampling: plan.sampling,
    qmcGroup: config.qmcGroup,
    localCredit: config.localCredit ?? 'loss',
    causalCredit: config.causalCredit ?? true,
    recurrentNoiseScale: config.recurrentNoiseScale ?? 1,
    ...(config.timeChunk !== undefined ? { timeChunk: config.timeChunk } : {}),
  };
}

/**
 * Each layer's escape noise (undefined: it fires deterministically): `noise` — one for every noisy
 * layer, a recurrent one's σ times `recurrentNoiseScale`, unless `layerNoise` names the layer — or
 * a map by layer name; every σ then times `sigmaScale` (an estimate's `sigmaScale` option).
 */
export function noisePerLayer(net: Network, c: Pick<Resolved, 'noise' | 'layerNoise' | 'recurrentNoiseScale'>, sigmaScale = 1): (EscapeNoise | undefined)[] {
  const each = perLayer(net, c);
  return sigmaScale === 1 ? each : each.map((n) => (n ? { ...n, sigma: n.sigma * sigmaScale } : n));
}

function perLayer(net: Network, c: Pick<Resolved, 'noise' | 'layerNoise' | 'recurrentNoiseScale'>): (EscapeNoise | undefined)[] {
  const noisy = (l: Network['layers'][number]) => l.neuron !== undefined && modelOf(l.neuron).role !== 'readout';
  const { noise, layerNoise: map = {}, recurrentNoiseScale: scale } = c;
  if ('kind' in noise) {
    // the one noise as a layer takes it (a recurrent one scaled)
    const one = noise as EscapeNoise;
    const fitted = (l: Network['layers'][number]): EscapeNoise => (l.recurrentCurrents && scale !== 1 ? { ...one, sigma: one.sigma * scale } : one);
    for (const name of Object.keys(map)) {
      const layer = net.layers.find((l) => l.name === name);
      check(
        layer !== undefined && noisy(layer),
        () =>
          `likelihoodRatio: layerNoise names '${name}', ${layer ? 'which has no spiking or analog units' : 'which is not a layer of this network'}; noisy layers: ${net.layers
            .filter(noisy)
            .map((l) => l.name)
            .join(', ')}`,
      );
    }
    return net.layers.map((l) => (noisy(l) ? (map[l.name] ?? fitted(l)) : undefined));
  }
  const byName = noise as Readonly<Record<string, EscapeNoise>>;
  for (const name of Object.keys(byName)) {
    const layer = net.layer(name);
    check(noisy(layer), () => `likelihoodRatio: noise given for layer '${name}', which has no spiking or analog units`);
  }
  return net.layers.map((l) => byName[l.name]);
}
/** Steps per time chunk for a run of `steps` (undefined: one pass over all of them). */
export function chunkSteps(timeChunk: LRConfig['timeChunk'], steps: number): number | undefined {
  if (timeChunk === undefined) return undefined;
  const chunk = timeChunk === 'auto' ? Math.ceil(Math.sqrt(steps)) : timeChunk;
  return chunk < steps ? chunk : undefined;
}
/** The LR configuration of a training config's keys. */
export function lrConfigOf(c: TrainConfig): LRConfig {
  return {
    copies: c.copies,
    noise: parseNoise(c.noise),
    score: c.score,
    baseline: c.baseline,
    sampling: c.sampling,
    localCredit: c.localCredit,
    causalCredit: c.causalCredit,
    recurrentNoiseScale: c.recurrentNoiseScale,
    ...(c.layerNoise !== null ? { layerNoise: Object.fromEntries(Object.entries(c.layerNoise).map(([n, v]) => [n, parseNoise(v)])) } : {}),
    ...(c.layerCopies !== null ? { layerwise: c.layerCopies } : {}),
    ...(c.timeChunk !== null ? { timeChunk: c.timeChunk } : {}),
  };
}
