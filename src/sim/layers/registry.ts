/**
 * The layer kinds spikelr knows. A new kind is one file (its `LayerKind`: spec constructor,
 * validation, build with map, VJP and JVP) and one line here.
 */
import { check, checkOneOf, show } from '../../core/errors.js';
import { neuronFromRecord } from '../../neurons/registry.js';
import { streamKey } from '../../core/random.js';
import { conv2dKind } from './conv2d.js';
import { denseKind } from './dense.js';
import { flattenKind } from './flatten.js';
import { graphConvKind } from './graph-conv.js';
import { gruKind } from './gru.js';
import { maxPool2dKind } from './max-pool.js';
import { avgPool2dKind, sumPool2dKind } from './pool.js';
import { readoutKind } from './readout.js';
import { recurrentKind } from './recurrent.js';
import { attachLocalHead, checkLocalHead, type LocalHeadSpec } from './local-head.js';
import type { Layer, LayerKind } from './types.js';

export const LAYER_KINDS_BY_NAME = {
  dense: denseKind,
  recurrent: recurrentKind,
  conv2d: conv2dKind,
  graphConv: graphConvKind,
  gru: gruKind,
  readout: readoutKind,
  maxPool2d: maxPool2dKind,
  sumPool2d: sumPool2dKind,
  avgPool2d: avgPool2dKind,
  flatten: flattenKind,
} as const;

type Kinds = typeof LAYER_KINDS_BY_NAME;
type SpecOf<K> = K extends { fromRecord(...args: never[]): infer S } ? S : never;
/** What the user writes for any layer (serialisable): a kind's spec, with a local head where a block of the network ends. */
export type LayerSpec = SpecOf<Kinds[keyof Kinds]> & { readonly localHead?: LocalHeadSpec };
export type LayerKindName = keyof Kinds;
export const LAYER_KINDS = Object.keys(LAYER_KINDS_BY_NAME) as LayerKindName[];

const _typed: { readonly [K in LayerKindName]: LayerKind<Extract<LayerSpec, { kind: K }>> } = LAYER_KINDS_BY_NAME;
void _typed;

/** Validates a layer spec read from a file or config. */
export function layerFromRecord(record: unknown, where: string): LayerSpec {
  check(typeof record === 'object' && record !== null, () => `${where}: expected a layer object, got ${show(record)}`);
  const { kind, neuron, localHead, ...rest } = record as Record<string, unknown>;
  checkOneOf(where, 'layer kind', kind, LAYER_KINDS);
  const options = neuron === undefined ? rest : { ...rest, neuron: neuronFromRecord(neuron, `${where}.neuron`) };
  const spec = LAYER_KINDS_BY_NAME[kind].fromRecord(options) as LayerSpec;
  const head = checkLocalHead(where, localHead);
  return head ? { ...spec, localHead: head } : spec;
}

/** The kind a built layer is of (its plug-in: `build`, and `nir` where it has one). */
export function layerKindOf(layer: Layer): LayerKind<LayerSpec> {
  return LAYER_KINDS_BY_NAME[layer.spec.kind as LayerKindName] as unknown as LayerKind<LayerSpec>;
}

/** `spec` with a local head of `classes` outputs on its layer's time-mean output (the end of a block; see local-head.ts). */
export function withLocalHead(spec: LayerSpec, classes: number): LayerSpec {
  return { ...spec, localHead: checkLocalHead(`${spec.kind} '${spec.name ?? spec.kind}'`, { classes })! } as LayerSpec;
}

/** A layer's name: its own, or its kind and position (`dense0`). */
export function layerName(spec: LayerSpec, index: number): string {
  return spec.name ?? `${spec.kind}${index}`;
}

/** Builds `spec` for per-step input shape `inputShape`, its parameters seeded from `(seed, index)`. */
export function buildLayer(spec: LayerSpec, inputShape: readonly number[], index: number, seed: number, uid: string): Layer {
  const name = layerName(spec, index);
  const kind = LAYER_KINDS_BY_NAME[spec.kind] as unknown as LayerKind<LayerSpec>;
  const { localHead, ...own } = spec;
  const ctx = {
    name,
    where: `${spec.kind} '${name}'`,
    inputShape,
    key: (slot: number) => streamKey(seed, index, slot),
    varName: (p: string) => `${uid}/${name}.${p}`,
  };
  const layer = kind.build(own as LayerSpec, ctx);
  if (!localHead) return layer;
  // the layer's spec keeps its head, so that a saved model rebuilds it
  return { ...attachLocalHead(layer, checkLocalHead(ctx.where, localHead)!, ctx), spec };
}

/** Shape of a layer's currents per sample and step (a GRU's 3U gates, otherwise its output). */
export function currentShapeOf(layer: Layer): readonly number[] {
  return layer.currentShape ?? layer.outputShape;
}
