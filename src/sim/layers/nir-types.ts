/**
 * What a layer kind provides to be written as NIR (`LayerKind.nir`) and what the exporter gives it;
 * a kind without a mapping is refused by name. The building blocks of its nodes are in nir.ts.
 */
import type { NirNode } from '../../neurons/nir.js';

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
