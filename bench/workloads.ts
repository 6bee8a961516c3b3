/**
 * The workloads of `bench/run.ts` (issue 6's table), and the recipe its worker threads build them
 * from (`--workers`).
 */
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { likelihoodRatio, type Estimator } from '../src/learning/estimators/lr.js';
import type { ShardParts } from '../src/learning/parallel.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { lif } from '../src/neurons/params.js';
import { atan } from '../src/neurons/surrogate.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';

export type Kind = 'forward' | 'bptt' | 'lr';
export interface Workload { readonly name: string; readonly kind: Kind; readonly hidden: number; readonly recurrent?: boolean; readonly copies?: number }
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
];

export function network(w: Workload): Network {
  const hidden = (w.recurrent ? recurrent : dense)({ name: 'hidden', units: w.hidden, neuron: lif({ beta: 0.95, threshold: 1 }) });
  return new Network({ input: [784], layers: [hidden, readout({ name: 'out', units: 10, beta: 0.95 })], seed: 0 });
}

export function estimatorOf(w: Workload): Estimator | undefined {
  return w.kind === 'bptt' ? bptt({ surrogate: atan({ alpha: 2 }) })
    : w.kind === 'lr' ? likelihoodRatio({ copies: w.copies!, noise: escapeNoise('logistic', 0.5), score: 'spike', baseline: 'loo' })
    : undefined;
}

/** The recipe of a worker thread: the named workload's network, estimator and loss. */
export function shardParts(args: { name: string }): ShardParts {
  const w = WORKLOADS.find((x) => x.name === args.name);
  if (!w) throw new Error(`unknown workload '${args.name}'`);
  return { network: network(w), estimator: estimatorOf(w)!, loss: membraneCrossEntropy('mean') };
}
