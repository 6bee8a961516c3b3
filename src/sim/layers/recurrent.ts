/**
 * A layer with its own recurrent weights: I_t = x_t W + b + s_{t−1} V (+ b_rec with `recurrentBias`,
 * snnTorch's RLeaky / PyTorch's second nn.Linear bias: redundant with b in the forward pass, kept
 * apart so that such models import and export parameter for parameter).
 */
import * as tf from '@tensorflow/tfjs';
import { check, show } from '../../core/errors.js';
import { initVariable, sumToLast } from './common.js';
import { buildFullyConnected, fullyConnected, type FullyConnectedOptions, type UnitNeuron } from './dense.js';
import type { Layer, LayerKind } from './types.js';
import { affineExport, affineNode, torchValues } from './nir.js';
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
  /** A bias of the recurrent connection, b_rec, added every step as snnTorch's RLeaky does. */
  readonly recurrentBias?: boolean;
}

export function recurrent(o: FullyConnectedOptions & { readonly recurrentBias?: boolean }): RecurrentSpec {
  const { recurrentBias, ...rest } = o;
  check(recurrentBias === undefined || typeof recurrentBias === 'boolean', () => `recurrent: recurrentBias must be true or false, got ${show(recurrentBias)}`);
  return { ...fullyConnected('recurrent', rest), ...(recurrentBias ? { recurrentBias: true } : {}) };
}

export const recurrentKind = {
  kind: 'recurrent',
  fromRecord: (o) => recurrent(o as unknown as FullyConnectedOptions),
  build(spec, ctx) {
    let v!: tf.Variable;
    const layer = buildFullyConnected(spec, ctx, spec.learn, (params) => {
      v = params['recurrent'] = initVariable([spec.units, spec.units], spec.units, ctx.key(2), ctx.varName('recurrent'));
    });
    const withBias = spec.recurrentBias ? recurrentBiased(layer, initVariable([spec.units], spec.units, ctx.key(3), ctx.varName('recurrentBias'))) : layer;
    return {
      ...withBias,
      recurrentCurrents: (s) => tf.matMul(s, v),
      ...(spec.recurrentBias ? {} : { recurrentWeight: v }),
      recurrentVjp: (previous, g) => ({ recurrent: tf.matMul(previous, g, true) }),
      recurrentJvp: (previous, dPrevious, d) =>
        tf.tidy(() => {
          const terms = [dPrevious ? tf.matMul(dPrevious, v) : undefined, d['recurrent'] ? tf.matMul(previous, d['recurrent']) : undefined].filter(
            (t): t is tf.Tensor => t !== undefined,
          );
          return terms.length ? terms.reduce((a, b) => tf.add(a, b)) : tf.zeros([previous.shape[0]!, spec.units]);
        }),
    };
  },
  // as snnTorch writes RSynaptic: the recurrent weight (Affine with b_rec) in a cycle with the neurons
  nir(layer, c) {
    const n = layer.outputShape[0]!,
      rb = layer.params['recurrentBias'];
    const loop = affineNode(torchValues(layer.params['recurrent']!), n, n, rb?.dataSync() as Float32Array | undefined);
    return { chain: affineExport(layer, c.neurons, c.inputOrder), loop: ['recurrent', loop] };
  },
} satisfies LayerKind<RecurrentSpec>;

/**
 * `layer` with b_rec added to its currents every step: a parameter of the map like the bias, whose
 * VJP is the bias's (Σ g) and whose tangent adds as it is.
 */
function recurrentBiased(layer: Layer, bias: tf.Variable): Layer {
  return {
    ...layer,
    params: { ...layer.params, recurrentBias: bias },
    mapParams: [...layer.mapParams, 'recurrentBias'],
    map: (x, p) => tf.tidy(() => tf.add(layer.map(x, p.slice(0, -1)), p.at(-1)!)),
    currents: (x) => tf.tidy(() => tf.add(layer.currents(x), bias)),
    vjp: (x, g) => ({ ...layer.vjp(x, g), recurrentBias: sumToLast(g) }),
    jvp: (x, dx, dp) =>
      tf.tidy(() => {
        const feedForward = layer.jvp!(x, dx, dp);
        return dp['recurrentBias'] ? tf.add(feedForward, dp['recurrentBias']) : feedForward;
      }),
  };
}
