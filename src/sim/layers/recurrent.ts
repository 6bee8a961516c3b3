/** A layer with its own recurrent weights: I_t = x_t W + s_{t−1} V + b. */
import * as tf from '@tensorflow/tfjs';
import { initVariable } from './common.js';
import { buildFullyConnected, fullyConnected, type FullyConnectedOptions, type UnitNeuron } from './dense.js';
import type { LayerKind } from './types.js';
import type { Learnable } from './common.js';
import type { Decorrelate } from './decorrelation.js';

export interface RecurrentSpec {
  readonly kind: 'recurrent';
  readonly name?: string;
  readonly units: number;
  readonly neuron: UnitNeuron;
  readonly bias: boolean;
  readonly learn: readonly Learnable[];
  /** Decorrelation of the feed-forward input (the recurrent input is not decorrelated). */
  readonly decorrelate?: Decorrelate;
}

export function recurrent(o: FullyConnectedOptions): RecurrentSpec {
  return fullyConnected('recurrent', o);
}

export const recurrentKind = {
  kind: 'recurrent',
  fromRecord: (o) => recurrent(o as unknown as FullyConnectedOptions),
  build(spec, ctx) {
    let v!: tf.Variable;
    const layer = buildFullyConnected(spec, ctx, spec.learn, (params) => {
      v = params['recurrent'] = initVariable([spec.units, spec.units], spec.units, ctx.key(2), ctx.varName('recurrent'));
    });
    return {
      ...layer,
      recurrentCurrents: (s) => tf.matMul(s, v),
      recurrentVjp: (previous, g) => ({ recurrent: tf.matMul(previous, g, true) }),
      recurrentJvp: (previous, dPrevious, d) =>
        tf.tidy(() => {
          const terms = [dPrevious ? tf.matMul(dPrevious, v) : undefined, d['recurrent'] ? tf.matMul(previous, d['recurrent']) : undefined].filter((t): t is tf.Tensor => t !== undefined);
          return terms.length ? terms.reduce((a, b) => tf.add(a, b)) : tf.zeros([previous.shape[0]!, spec.units]);
        }),
    };
  },
} satisfies LayerKind<RecurrentSpec>;
