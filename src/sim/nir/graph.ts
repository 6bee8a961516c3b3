/**
 * A NIR graph in memory, as its file holds it: nodes of a primitive type with their datasets, a
 * NIRGraph node with nodes and edges (file.ts reads and writes it; no Node.js here).
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

export const floats = (shape: readonly number[], values: ArrayLike<number>, dtype: NirArray['dtype'] = 'float32'): NirArray => ({ shape: [...shape], data: Float64Array.from(values), dtype });
export const ints = (values: readonly number[], scalar = false): NirArray => ({ shape: scalar ? [] : [values.length], data: Float64Array.from(values), dtype: 'int64' });
