/** A non-spiking leaky readout: I_t = x_t W + b integrated by a leaky membrane, which is the output. */
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
import { readoutNeuron, type ReadoutParams } from '../../neurons/readout.js';
import { modelOf, type NeuronParams } from '../../neurons/registry.js';
import { checkName, named, type Named } from './common.js';
import { buildFullyConnected, decorrelateField } from './dense.js';
import type { Decorrelate, DecorrelateOptions } from './decorrelation.js';
import type { LayerKind } from './types.js';
import { affineExport } from './nir.js';

export interface ReadoutSpec {
  readonly kind: 'readout';
  readonly name?: string;
  readonly units: number;
  readonly neuron: ReadoutParams;
  readonly bias: boolean;
  readonly decorrelate?: Decorrelate;
}

export function readout(
  o: Named & {
    readonly units: number;
    readonly neuron?: ReadoutParams;
    readonly beta?: number;
    readonly bias?: boolean;
    readonly decorrelate?: DecorrelateOptions | boolean;
  },
): ReadoutSpec {
  checkKeys('readout', o, ['name', 'units', 'neuron', 'beta', 'bias', 'decorrelate']);
  checkName('readout', o.name);
  checkInteger('readout', 'units', o.units, 1);
  check(!(o.neuron && o.beta !== undefined), () => 'readout: give either neuron or beta, not both');
  const neuron = o.neuron ?? readoutNeuron(o.beta === undefined ? {} : { beta: o.beta });
  check(
    typeof neuron === 'object' && neuron !== null && modelOf(neuron as NeuronParams).role === 'readout',
    () => `readout: neuron must be a readout neuron (readoutNeuron()), got kind ${show((neuron as { kind?: unknown }).kind)}`,
  );
  return named(
    { kind: 'readout' as const, units: o.units, neuron: neuron as ReadoutParams, bias: o.bias ?? true, ...decorrelateField('readout', o.decorrelate) },
    o.name,
  );
}

export const readoutKind = {
  kind: 'readout',
  fromRecord: (o) => readout(o as never),
  build: (spec, ctx) => buildFullyConnected(spec, ctx, []),
  nir: (layer, c) => ({ chain: affineExport(layer, c.neurons, c.inputOrder) }),
} satisfies LayerKind<ReadoutSpec>;
