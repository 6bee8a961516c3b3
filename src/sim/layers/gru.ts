/**
 * A gated recurrent unit layer (see neurons/gru.ts for the equations): parameters `weight`
 * [in, 3U], `bias` [3U], `recurrent` [U, 3U], `recurrentBias` [3U], gates in the order r, z, n.
 * The feed-forward map is x W + b; the recurrent weights act inside the cell (its gates), so they
 * reach the neuron as coefficients, and their VJP takes the cell's recurrent adjoint.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
import type { GRUParams } from '../../neurons/gru.js';
import { affineLayer, checkName, checkRank1, initVariable, learnedCoefficients, named, type Learnable, type Named } from './common.js';
import type { LayerKind } from './types.js';

export interface GRUSpec {
  readonly kind: 'gru';
  readonly name?: string;
  readonly units: number;
  readonly neuron: GRUParams;
  readonly bias: boolean;
  readonly learn: readonly Learnable[];
}

export function gru(
  o: Named & { readonly units: number; readonly bias?: boolean; readonly learn?: readonly Learnable[]; readonly neuron?: GRUParams },
): GRUSpec {
  checkKeys('gru', o, ['name', 'units', 'bias', 'learn', 'neuron']);
  checkName('gru', o.name);
  checkInteger('gru', 'units', o.units, 1);
  const learn = o.learn ?? [];
  check(Array.isArray(learn) && learn.every((l) => l === 'sigma'), () => `gru: a GRU can learn only 'sigma', got ${show(learn)}`);
  return named({ kind: 'gru' as const, units: o.units, neuron: { kind: 'gru' } as GRUParams, bias: o.bias ?? true, learn: [...new Set(learn)] }, o.name);
}

export const gruKind = {
  kind: 'gru',
  fromRecord: (o) => gru(o as never),
  build(spec, ctx) {
    const fanIn = checkRank1(ctx),
      u = spec.units;
    // PyTorch's GRU initialisation: every weight and bias ~ U(−1/√U, 1/√U)
    const params: Record<string, tf.Variable> = { weight: initVariable([fanIn, 3 * u], u, ctx.key(0), ctx.varName('weight')) };
    if (spec.bias) params['bias'] = initVariable([3 * u], u, ctx.key(1), ctx.varName('bias'));
    params['recurrent'] = initVariable([u, 3 * u], u, ctx.key(2), ctx.varName('recurrent'));
    if (spec.bias) params['recurrentBias'] = initVariable([3 * u], u, ctx.key(3), ctx.varName('recurrentBias'));
    const gates: Record<string, tf.Variable> = {
      recurrent: params['recurrent'],
      ...(params['recurrentBias'] ? { recurrentBias: params['recurrentBias'] } : {}),
    };
    const coefficients = { ...learnedCoefficients(ctx, spec.neuron, spec.learn, u, params, 3 * u), ...gates };
    const layer = affineLayer(
      ctx,
      { spec, neuron: spec.neuron, params, coefficients, learned: [] },
      [u],
      (x, w) => tf.matMul(x, w),
      (x, g) => tf.matMul(x, g, true),
    );
    return {
      ...layer,
      currentShape: [3 * u],
      recurrentVjp: (previous, g) => ({ recurrent: tf.matMul(previous, g, true), ...(params['recurrentBias'] ? { recurrentBias: tf.sum(g, 0) } : {}) }),
    };
  },
} satisfies LayerKind<GRUSpec>;
