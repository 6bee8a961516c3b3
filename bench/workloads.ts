/**
 * The workloads of `bench/run.ts` (issue 6's table), and the recipe its worker threads build them
 * from (`--workers`).
 */
import { defaultConfig, type TrainConfig } from '../src/cli/config.js';
import { methodOf, type MethodName } from '../src/learning/estimators/registry.js';
import type { Estimator } from '../src/learning/estimators/types.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import type { ShardParts } from '../src/learning/parallel.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { deployment, deploySpecs, type Deployment } from '../src/sim/deploy.js';

/** A forward pass, or a training step of a registered method. */
export type Kind = 'forward' | MethodName;
export interface Workload {
  readonly name: string;
  readonly kind: Kind;
  readonly hidden: number;
  readonly recurrent?: boolean;
  readonly copies?: number;
  readonly directions?: number;
  readonly decorrelate?: boolean;
  readonly deploy?: Deployment;
  /** Hidden layers of `hidden` units (default 1). */
  readonly depth?: number;
  /** Two threads for this row: batch shards (one worker) or LR's layers in two stages (src/learning/pipeline.ts). */
  readonly parallel?: 'shards' | 'pipeline';
}
const DEPLOYED = deployment({ weightBits: 4, state: { bits: 8, fraction: 4 }, decayBits: 8 });
export const WORKLOADS: Workload[] = [
  { name: 'forward-h512', kind: 'forward', hidden: 512 },
  { name: 'forward-h1000', kind: 'forward', hidden: 1000 },
  { name: 'bptt-h512', kind: 'bptt', hidden: 512 },
  { name: 'bptt-h1000', kind: 'bptt', hidden: 1000 },
  { name: 'rforward-h512', kind: 'forward', hidden: 512, recurrent: true },
  { name: 'rbptt-h512', kind: 'bptt', hidden: 512, recurrent: true },
  { name: 'lr-h512-k8', kind: 'lr', hidden: 512, copies: 8 },
  { name: 'lr-h512-k32', kind: 'lr', hidden: 512, copies: 32 },
  { name: 'lr-h1000-k8', kind: 'lr', hidden: 1000, copies: 8 },
  { name: 'fg-h512-k8', kind: 'fg', hidden: 512, directions: 8 },
  { name: 'fga-h512-k8', kind: 'fg-activity', hidden: 512, directions: 8 },
  // both layers' inputs decorrelated (defaults: centred, R from 1/8 of the rows), R updated every step
  { name: 'bptt-h512-decor', kind: 'bptt', hidden: 512, decorrelate: true },
  { name: 'lr-h512-k8-decor', kind: 'lr', hidden: 512, copies: 8, decorrelate: true },
  { name: 'fg-h512-k8-decor', kind: 'fg', hidden: 512, directions: 8, decorrelate: true },
  { name: 'fga-h512-k8-decor', kind: 'fg-activity', hidden: 512, directions: 8, decorrelate: true },
  // deployed (docs/deployment.md): 4-bit per-channel weights, 8-bit membranes (4 fraction bits), 8-bit decays
  { name: 'bptt-h512-deploy', kind: 'bptt', hidden: 512, deploy: DEPLOYED },
  { name: 'lr-h512-k8-deploy', kind: 'lr', hidden: 512, copies: 8, deploy: DEPLOYED },
  // 784-512-512-512-10 (issue 14): one thread, two batch shards, two pipeline stages
  { name: 'lr-deep-k8', kind: 'lr', hidden: 512, depth: 3, copies: 8 },
  { name: 'lr-deep-k8-shards', kind: 'lr', hidden: 512, depth: 3, copies: 8, parallel: 'shards' },
  { name: 'lr-deep-k8-pipeline', kind: 'lr', hidden: 512, depth: 3, copies: 8, parallel: 'pipeline' },
];

export function network(w: Workload): Network {
  const decorrelate = w.decorrelate === true;
  const depth = w.depth ?? 1;
  const hidden = Array.from({ length: depth }, (_, i) =>
    (w.recurrent ? recurrent : dense)({
      name: `hidden${depth > 1 && i > 0 ? i + 1 : ''}`,
      units: w.hidden,
      neuron: lif({ beta: 0.95, threshold: 1 }),
      decorrelate,
    }),
  );
  const layers = [...hidden, readout({ name: 'out', units: 10, beta: 0.95, decorrelate })];
  return new Network({ input: [784], layers: w.deploy ? deploySpecs(layers, w.deploy) : layers, seed: 0 });
}

/**
 * The workload's estimator, from the method registry with the bench's settings: K copies of
 * logistic escape noise σ = 0.5 with the spike score and leave-one-out baseline, every unit weighted by
 * the loss as the peers compute it (LR, --local-credit loss), atan(2) as
 * the surrogate (BPTT, FG), K directions (FG).
 */
export function estimatorOf(w: Workload): Estimator | undefined {
  if (w.kind === 'forward') return undefined;
  return methodOf(w.kind).estimator(configOf(w));
}

/** The training config of a workload's estimator. */
export function configOf(w: Workload): TrainConfig {
  return {
    ...defaultConfig(w.kind === 'forward' ? 'lr' : w.kind),
    copies: w.copies ?? 8,
    directions: w.directions ?? 8,
    noise: 'logistic:0.5',
    score: 'spike' as const,
    baseline: 'loo' as const,
    localCredit: 'loss' as const,
    surrogate: 'atan' as const,
    surrogateScale: 2,
  };
}

/** The recipe of a worker thread: the named workload's network, estimator and loss. */
export function shardParts(args: { name: string }): ShardParts {
  const w = WORKLOADS.find((x) => x.name === args.name);
  if (!w) throw new Error(`unknown workload '${args.name}'`);
  return { network: network(w), estimator: estimatorOf(w)!, loss: membraneCrossEntropy('mean') };
}
