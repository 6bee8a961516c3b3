/**
 * Neuron parameter records and their constructors, gathered from the model files (one per model:
 * lif.ts, if.ts, synaptic.ts, alif.ts, readout.ts, analog.ts, gru.ts, equation.ts). Each record is
 * small, immutable, validated once at construction and serialisable.
 */
import type { ALIFParams } from './alif.js';
import type { LIFParams } from './lif.js';
import type { ReadoutParams } from './readout.js';
import type { NeuronParams } from './registry.js';
import type { SynapticParams } from './synaptic.js';

export { lif, RESET_MODES } from './lif.js';
export type { LIFParams, LIFOptions, ResetMode } from './lif.js';
export { ifNeuron } from './if.js';
export { synaptic } from './synaptic.js';
export type { SynapticParams } from './synaptic.js';
export { alif } from './alif.js';
export type { ALIFParams } from './alif.js';
export { readoutNeuron } from './readout.js';
export type { ReadoutParams } from './readout.js';
export { analog, ACTIVATIONS } from './analog.js';
export type { AnalogParams, Activation } from './analog.js';
export type { GRUParams } from './gru.js';
export { equationNeuron } from './equation.js';
export type { EquationParams, EquationOptions } from './equation.js';
export { neuronFromRecord, isSpiking, isUnit, NEURON_KINDS, NEURON_PRESETS, modelOf, NEURON_MODELS } from './registry.js';
export type { NeuronParams, NeuronKind } from './registry.js';

/** The LIF family: built-in models that fire by a threshold crossing (an equation neuron fires so too). */
export type SpikingParams = LIFParams | SynapticParams | ALIFParams;
/** Units a hidden layer can have, and that carry noise in LR training. */
export type UnitParams = Exclude<NeuronParams, ReadoutParams>;
