/**
 * A NIR graph in memory, as its file holds it: nodes of a primitive type with their datasets, a
 * NIRGraph node with nodes and edges (io/nir/file.ts reads and writes it; no Node.js here), and what
 * a neuron model gets to write itself as a node (its `NeuronModel.nir`; layers: sim/layers/nir.ts).
 */

/** A numeric dataset: row-major values and shape (`[]` for a scalar), and how it is stored. */
export interface NirArray {
  readonly shape: readonly number[];
  readonly data: Float64Array;
  readonly dtype: 'float32' | 'float64' | 'int64';
}

export type NirValue = NirArray | string;

/** A node: its primitive type and its datasets; a subgraph also has nodes and edges. */
export interface NirNode {
  readonly type: string;
  readonly fields: Readonly<Record<string, NirValue>>;
  readonly metadata: Readonly<Record<string, NirValue>>;
  readonly nodes?: Readonly<Record<string, NirNode>>;
  readonly edges?: readonly (readonly [string, string])[];
}

export const isArray = (v: NirValue | undefined): v is NirArray => typeof v === 'object' && v !== null;

export const floats = (shape: readonly number[], values: ArrayLike<number>, dtype: NirArray['dtype'] = 'float32'): NirArray => ({
  shape: [...shape],
  data: Float64Array.from(values),
  dtype,
});
export const ints = (values: readonly number[], scalar = false): NirArray => ({
  shape: scalar ? [] : [values.length],
  data: Float64Array.from(values),
  dtype: 'int64',
});

/** Neuron parameters go out in float64: τ = dt/(1 − β) in float32 would not give β back to the bit. */
export const f64 = (shape: readonly number[], v: ArrayLike<number>) => floats(shape, v, 'float64');

/** A node of a primitive with its datasets (and metadata). */
export const nirNode = (type: string, fields: Record<string, NirValue>, metadata: Record<string, NirValue> = {}): NirNode => ({ type, fields, metadata });

/** What the exporter gives a neuron model to write its node (time is stepped by forward Euler with step dt). */
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
