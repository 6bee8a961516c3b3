/**
 * What a neuron model or a layer kind provides to be written as NIR, and what the exporter gives it.
 * Each plug-in owns its mapping (`NeuronModel.nir`, `LayerKind.nir`); one without is refused by
 * name. Time is stepped by forward Euler with step dt (convert-out.ts has the equations).
 */
import type { NirNode } from './graph.js';

export interface NirNeuronContext {
  /** The NIR shape of the layer's neurons ([N], or [C, H, W] for a conv layer). */
  readonly shape: readonly number[];
  /** Seconds per step. */
  readonly dt: number;
  /** Each neuron's value of a coefficient: the layer's learned per-neuron (per-channel) values, or `scalar`. */
  perNeuron(name: string, scalar: number): Float64Array;
  /** How a reset by subtraction goes out: refused, or as NIR's reset with `reset = "subtract"` in the node's metadata. */
  readonly subtractReset: 'error' | 'metadata';
  /** Throws an error naming the layer and its neurons. */
  refuse(why: string): never;
}

export interface NirLayerContext {
  readonly dt: number;
  /** The layer's neuron node, from its neuron model's `nir` (a model without one is refused). */
  neurons(): NirNode;
  /**
   * The NIR index order of the layer's flat input: spikelr's index of each NIR index (after a
   * Flatten of an [H, W, C] image, which NIR flattens as [C, H, W]); undefined for the identity.
   */
  readonly inputOrder: Int32Array | undefined;
  refuse(why: string): never;
}

export interface NirLayerExport {
  /** The layer's nodes in signal order (each feeds the next), as [name suffix or '', node]: '' names the node after the layer. */
  readonly chain: readonly (readonly [string, NirNode])[];
  /** A node in a cycle with the chain's last node (a recurrent weight), as [suffix, node]. */
  readonly loop?: readonly [string, NirNode];
  /** The NIR index order of the layer's flat output, when it is not the identity (a Flatten of an image). */
  readonly outputOrder?: Int32Array;
}
