/**
 * Graph convolution (Kipf & Welling 2017): I = Â X W + b with Â = D^(−1/2) (A + I) D^(−1/2), the
 * symmetrically normalised adjacency with self-loops. The batch is the graph's nodes, so the rows
 * of one sample (one noise copy) are the N nodes together.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../../core/errors.js';
import { analog } from '../../neurons/analog.js';
import { affineLayer, checkName, checkRank1, initVariable, named, unitNeuron, type Named } from './common.js';
import type { UnitNeuron } from './dense.js';
import type { LayerKind } from './types.js';

export interface GraphConvSpec {
  readonly kind: 'graphConv';
  readonly name?: string;
  readonly units: number;
  /** Nodes of the graph; the batch is the graph's nodes (rows come in blocks of `nodes`). */
  readonly nodes: number;
  /** Undirected edges [i, j], 0-based. */
  readonly edges: readonly (readonly [number, number])[];
  readonly neuron: UnitNeuron;
  readonly bias: boolean;
}

export function graphConv(
  o: Named & {
    readonly units: number;
    readonly nodes: number;
    readonly edges: readonly (readonly [number, number])[];
    readonly neuron?: UnitNeuron;
    readonly bias?: boolean;
  },
): GraphConvSpec {
  checkKeys('graphConv', o, ['name', 'units', 'nodes', 'edges', 'neuron', 'bias']);
  checkName('graphConv', o.name);
  checkInteger('graphConv', 'units', o.units, 1);
  checkInteger('graphConv', 'nodes', o.nodes, 1);
  check(Array.isArray(o.edges), () => `graphConv: edges must be an array of [i, j] node pairs, got ${show(o.edges)}`);
  o.edges.forEach((e, k) =>
    check(
      Array.isArray(e) && e.length === 2 && e.every((v) => Number.isInteger(v) && v >= 0 && v < o.nodes),
      () => `graphConv: edge ${k} must be [i, j] with 0 <= i, j < ${o.nodes}, got ${show(e)}`,
    ),
  );
  const neuron = unitNeuron('graphConv', o.neuron ?? analog({ activation: 'relu' }));
  return named(
    { kind: 'graphConv' as const, units: o.units, nodes: o.nodes, edges: o.edges.map(([i, j]) => [i, j] as const), neuron, bias: o.bias ?? true },
    o.name,
  );
}

/** Â = D^(−1/2) (A + I) D^(−1/2) as a dense [N, N] array. */
export function normalizedAdjacency(nodes: number, edges: readonly (readonly [number, number])[]): Float32Array {
  const a = new Float64Array(nodes * nodes);
  for (let i = 0; i < nodes; i++) a[i * nodes + i] = 1;
  for (const [i, j] of edges) {
    a[i * nodes + j] = 1;
    a[j * nodes + i] = 1;
  }
  const degree = Array.from({ length: nodes }, (_, i) => a.subarray(i * nodes, (i + 1) * nodes).reduce((s, v) => s + v, 0));
  return Float32Array.from(a, (v, k) => v / Math.sqrt(degree[Math.floor(k / nodes)]! * degree[k % nodes]!));
}

export const graphConvKind = {
  kind: 'graphConv',
  fromRecord: (o) => graphConv(o as never),
  build(spec, ctx) {
    const fanIn = checkRank1(ctx, 'per node and step ([features])');
    const n = spec.nodes;
    const params: Record<string, tf.Variable> = { weight: initVariable([fanIn, spec.units], fanIn, ctx.key(0), ctx.varName('weight')) };
    if (spec.bias) params['bias'] = initVariable([spec.units], fanIn, ctx.key(1), ctx.varName('bias'));
    const adjacency = tf.tidy(() => tf.variable(tf.tensor2d(normalizedAdjacency(n, spec.edges), [n, n]), false, ctx.varName('adjacency')));
    const propagate = (y: tf.Tensor) => {
      const rows = y.shape[0]!;
      check(rows % n === 0, () => `${ctx.where}: rows must come in blocks of the graph's ${n} nodes (the batch is the nodes), got ${rows}`);
      const blocks = rows / n,
        u = y.shape[1]!;
      // Â applied to every block of n rows at once: [n, n] × [n, blocks·u]
      const mixed = tf.matMul(adjacency, tf.reshape(tf.transpose(tf.reshape(y, [blocks, n, u]), [1, 0, 2]), [n, blocks * u]));
      return tf.reshape(tf.transpose(tf.reshape(mixed, [n, blocks, u]), [1, 0, 2]), [rows, u]);
    };
    // Â is symmetric, so the weight VJP is (Â X)ᵀ g
    const layer = affineLayer(
      ctx,
      { spec, neuron: spec.neuron, params, coefficients: {}, learned: [] },
      [spec.units],
      (x, w) => propagate(tf.matMul(x, w)),
      (x, g) => tf.matMul(propagate(x), g, true),
    );
    return { ...layer, constants: { adjacency }, mixesRows: true };
  },
} satisfies LayerKind<GraphConvSpec>;
