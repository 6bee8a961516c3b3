import type { DiagnosticsRow } from '../learning/diagnostics.js';
import type { TrainConfig } from './config.js';
import { ESTIMATORS, methodOf } from '../learning/estimators/registry.js';
export interface CompareOptions {
  readonly out: string;
  readonly methods: readonly TrainConfig['method'][];
  /**
   * Which layers decorrelate their input, one value per variant: with more than one, every method
   * runs once per value, as arm `lr`, `lr+decor`, `lr+decor-hidden`, … (default: the config's).
   */
  readonly decorrelations?: readonly TrainConfig['decorrelate'][];
  /** Fixed training batches the gradients are compared on. */
  readonly gradientBatches: number;
  /** Numbers of samples K (LR's copies, FG's directions) of the cosine- and variance-against-K sweep at initialisation. */
  readonly copiesSweep: readonly number[];
  /** Independent draws per K in the sweep (≥ 2). */
  readonly sweepDraws: number;
  readonly epsilons: readonly number[];
  readonly noiseLevels: readonly number[];
  /** Test images attacked (the first N). */
  readonly attackSamples: number;
  readonly pgdIterations: number;
  /** R-only updates before the gradients are compared, when the config decorrelates (R starts at the identity). */
  readonly decorrelationWarmup: number;
  readonly progress: boolean;
  readonly force: boolean;
}
/** The name of method `method`'s run with `decorrelate`, in a compare of several decorrelation variants. */
export const armName = (method: string, decorrelate: TrainConfig['decorrelate']) =>
  decorrelate === 'none' ? method : `${method}+decor${decorrelate === 'all' ? '' : `-${decorrelate}`}`;

/** The method an arm of a compare runs (`lr+decor` runs `lr`). */
export const armMethod = (arm: string) => arm.split('+')[0]!;

/** One trained run of a compare: a method, with one decorrelation variant. */
export interface Arm {
  readonly name: string;
  readonly method: TrainConfig['method'];
  readonly decorrelate: TrainConfig['decorrelate'];
}
/** The K sweeps of a compare.json by method (files before FG held LR's alone, as `copies`). */
export function sweepsOf(gradients: Record<string, unknown>): Record<string, DiagnosticsRow[]> {
  const sweeps = gradients['sweeps'] as Record<string, DiagnosticsRow[]> | undefined;
  if (sweeps) return sweeps;
  const copies = gradients['copies'] as DiagnosticsRow[] | undefined;
  return copies ? { lr: copies } : {};
}

/** What K counts for method `m`: 'copies' or 'directions'. */
export const samplesName = (arm: string) => {
  const m = armMethod(arm);
  return m in ESTIMATORS ? (methodOf(m).samples ?? 'samples') : 'samples';
};
