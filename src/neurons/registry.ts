/**
 * The neuron models spikelr knows, by kind. A new model is one file (its `NeuronModel`) and one line
 * here; the compiler reports a model that lacks a part, and nothing outside `src/neurons/` switches
 * on a neuron's kind.
 */
import { check, checkOneOf } from '../core/errors.js';
import { alifModel } from './alif.js';
import { analogModel } from './analog.js';
import { deployedModel, deployedModelOf, useNeuronRegistry, type DeployedParams } from './deployed.js';
import { equationModel } from './equation.js';
import { gruModel } from './gru.js';
import { ifNeuron } from './if.js';
import { lifModel } from './lif.js';
import type { NeuronModel } from './model.js';
import { readoutModel } from './readout.js';
import { synapticModel } from './synaptic.js';

export const NEURON_MODELS = {
  lif: lifModel,
  synaptic: synapticModel,
  alif: alifModel,
  readout: readoutModel,
  analog: analogModel,
  gru: gruModel,
  equation: equationModel,
  deployed: deployedModel,
} as const;

type Models = typeof NEURON_MODELS;
type ParamsOf<M> = M extends { fromRecord(...args: never[]): infer P } ? P : never;

/** Any neuron's parameter record. */
export type NeuronParams = ParamsOf<Models[keyof Models]>;
export type NeuronKind = keyof Models;
export const NEURON_KINDS = Object.keys(NEURON_MODELS) as NeuronKind[];

// Each entry is the model of its own kind (checked by the compiler).
const _typed: { readonly [K in NeuronKind]: NeuronModel<Extract<NeuronParams, { kind: K }>> } = NEURON_MODELS;
void _typed;

/**
 * Hidden neurons the command line can build from `--beta --threshold --reset`: every model with a
 * preset, and `if` (LIF with β = 1).
 */
export const NEURON_PRESETS: Readonly<
  Record<string, (o: { readonly beta: number; readonly threshold: number; readonly reset: 'subtract' | 'zero' | 'none' }) => NeuronParams>
> = {
  ...Object.fromEntries(
    NEURON_KINDS.filter((k) => k !== 'deployed')
      .map((k) => NEURON_MODELS[k])
      .flatMap((m) => ('preset' in m ? [[m.kind, m.preset as (o: never) => NeuronParams]] : [])),
  ),
  if: (o) => ifNeuron({ threshold: o.threshold, reset: o.reset }),
};

/** The model that runs `params`. */
export function modelOf<P extends NeuronParams>(params: P): NeuronModel<P> {
  // a deployed neuron takes the role of the model it wraps
  if (params.kind === 'deployed') return deployedModelOf(params as DeployedParams) as unknown as NeuronModel<P>;
  return NEURON_MODELS[params.kind] as unknown as NeuronModel<P>;
}

/** Validates a neuron record that came from a file or a config (not from the constructors). */
export function neuronFromRecord(record: unknown, where = 'neuron'): NeuronParams {
  check(typeof record === 'object' && record !== null, () => `${where}: expected an object with a 'kind', got ${JSON.stringify(record)}`);
  const { kind, ...rest } = record as { kind?: unknown } & Record<string, unknown>;
  checkOneOf(where, 'neuron kind', kind, NEURON_KINDS);
  return NEURON_MODELS[kind].fromRecord(rest, where) as NeuronParams;
}

// a deployed neuron wraps a model of this registry (deployed.ts imports nothing from here)
useNeuronRegistry({ modelOf: (p) => modelOf(p as NeuronParams) as NeuronModel<{ readonly kind: string }>, neuronFromRecord });

/** Neurons that fire spikes by a threshold crossing. */
export function isSpiking(p: NeuronParams): boolean {
  return modelOf(p).role === 'spiking';
}

/** Units that take noise in LR training: spiking neurons and analog units (not the readout). */
export function isUnit(p: NeuronParams): boolean {
  return modelOf(p).role !== 'readout';
}
