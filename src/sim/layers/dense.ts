/** A fully connected layer: I_t = x_t W + b drives its neurons (LIF by default). */
import * as tf from '@tensorflow/tfjs';
import { checkInteger, checkKeys } from '../../core/errors.js';
import { lif } from '../../neurons/lif.js';
import type { NeuronParams } from '../../neurons/registry.js';
import {
  affineLayer,
  checkLearn,
  learnedNames,
  checkName,
  checkRank1,
  initVariable,
  learnedCoefficients,
  named,
  unitNeuron,
  type Learnable,
  type Named,
} from './common.js';
import { checkDecorrelate, decorrelator, type Decorrelate, type DecorrelateOptions } from './decorrelation.js';
import type { BuildContext, Layer, LayerKind } from './types.js';
import { affineExport } from './nir.js';

export type UnitNeuron = Exclude<NeuronParams, { kind: 'readout' }>;

export interface DenseSpec {
  readonly kind: 'dense';
  readonly name?: string;
  readonly units: number;
  readonly neuron: UnitNeuron;
  readonly bias: boolean;
  readonly learn: readonly Learnable[];
  readonly decorrelate?: Decorrelate;
}

export type FullyConnectedOptions = Named & {
  readonly units: number;
  readonly neuron?: UnitNeuron;
  readonly bias?: boolean;
  /** Neuron coefficients to learn per neuron: 'beta' (decay), 'threshold', 'sigma', an equation neuron's parameters. */
  readonly learn?: readonly Learnable[];
  /** Decorrelate the layer's input (z = R(x − μ)); `true` takes the defaults. */
  readonly decorrelate?: DecorrelateOptions | boolean;
};

/** Checks the options shared by dense and recurrent layers. */
export function fullyConnected<K extends string>(
  kind: K,
  o: FullyConnectedOptions,
): { kind: K; units: number; neuron: UnitNeuron; bias: boolean; learn: readonly Learnable[]; decorrelate?: Decorrelate } & Named {
  checkKeys(kind, o, ['name', 'units', 'neuron', 'bias', 'learn', 'decorrelate']);
  checkName(kind, o.name);
  checkInteger(kind, 'units', o.units, 1);
  const neuron = unitNeuron(kind, o.neuron ?? lif());
  return named(
    { kind, units: o.units, neuron, bias: o.bias ?? true, learn: checkLearn(kind, o.learn, neuron), ...decorrelateField(kind, o.decorrelate) },
    o.name,
  );
}

/** `{ decorrelate }` when the options ask for it, else nothing (the spec stays as before). */
export function decorrelateField(where: string, o: unknown): { decorrelate?: Decorrelate } {
  const d = checkDecorrelate(where, o);
  return d ? { decorrelate: d } : {};
}

export function dense(o: FullyConnectedOptions): DenseSpec {
  return fullyConnected('dense', o);
}

/** x W with W `[in, out]`; its weight VJP xᵀ g (the event-driven kernel when x is sparse spikes). */
export function buildFullyConnected(
  spec: Layer['spec'] & { readonly units: number; readonly bias: boolean; readonly neuron: NeuronParams; readonly decorrelate?: Decorrelate },
  ctx: BuildContext,
  learn: readonly Learnable[],
  extra: (params: Record<string, tf.Variable>) => void = () => {},
): Layer {
  const fanIn = checkRank1(ctx);
  const params: Record<string, tf.Variable> = { weight: initVariable([fanIn, spec.units], fanIn, ctx.key(0), ctx.varName('weight')) };
  if (spec.bias) params['bias'] = initVariable([spec.units], fanIn, ctx.key(1), ctx.varName('bias'));
  extra(params);
  const coefficients = learnedCoefficients(ctx, spec.neuron, learn, spec.units, params);
  const decorrelation = spec.decorrelate
    ? {
        decorrelator: decorrelator(ctx, fanIn, spec.decorrelate, params, params['weight']!),
        vectors: (x: tf.Tensor) => tf.reshape(x, [-1, fanIn]),
        positions: 1,
      }
    : undefined;
  return affineLayer(
    ctx,
    { spec, neuron: spec.neuron, params, coefficients, learned: learnedNames(learn) },
    [spec.units],
    (x, w) => tf.matMul(x, w),
    (x, g) => tf.matMul(x, g, true),
    decorrelation,
  );
}

export const denseKind = {
  kind: 'dense',
  fromRecord: (o) => dense(o as unknown as FullyConnectedOptions),
  build: (spec, ctx) => buildFullyConnected(spec, ctx, spec.learn),
  nir: (layer, c) => ({ chain: affineExport(layer, c.neurons, c.inputOrder) }),
} satisfies LayerKind<DenseSpec>;
