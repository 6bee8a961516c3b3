/**
 * Layers: a layer spec (what the user writes, serialisable) is built against an input shape into
 * a layer with parameters. A layer maps its input to currents in one op for any number of rows,
 * so the feed-forward currents of all T steps are a single matmul/conv (DESIGN.md §4.1); its
 * neuron, if any, then runs the time loop. One file per kind in `layers/`, registered there.
 *
 * Shapes are per sample and per step: a dense layer takes `[in]`, a conv layer `[H, W, C]`.
 */
export { dense } from './layers/dense.js';
export type { DenseSpec, FullyConnectedOptions } from './layers/dense.js';
export { recurrent } from './layers/recurrent.js';
export type { RecurrentSpec } from './layers/recurrent.js';
export { conv2d, PADDINGS } from './layers/conv2d.js';
export type { Conv2dSpec, Padding } from './layers/conv2d.js';
export { readout } from './layers/readout.js';
export type { ReadoutSpec } from './layers/readout.js';
export { graphConv, normalizedAdjacency } from './layers/graph-conv.js';
export type { GraphConvSpec } from './layers/graph-conv.js';
export { gru } from './layers/gru.js';
export type { GRUSpec } from './layers/gru.js';
export { maxPool2d } from './layers/max-pool.js';
export type { MaxPool2dSpec } from './layers/max-pool.js';
export { sumPool2d, avgPool2d } from './layers/pool.js';
export type { SumPool2dSpec, AvgPool2dSpec } from './layers/pool.js';
export { flatten } from './layers/flatten.js';
export type { FlattenSpec } from './layers/flatten.js';
export { LEARNABLE } from './layers/common.js';
export type { Learnable } from './layers/common.js';
export type { Layer, LayerKind as LayerKindDefinition, BuildContext, ParamTensors } from './layers/types.js';
export { layerFromRecord, layerName, withLocalHead, buildLayer, currentShapeOf, layerKindOf, LAYER_KINDS, LAYER_KINDS_BY_NAME } from './layers/registry.js';
export type { LayerSpec, LayerKindName as LayerKind } from './layers/registry.js';
export { blockEnds, localHeadLogits, LOCAL_HEAD_PARAMS } from './layers/local-head.js';
export type { LocalHeadSpec } from './layers/local-head.js';
