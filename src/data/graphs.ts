/**
 * Graphs for node classification, generated from a seed.
 *
 * Stochastic block model (Holland, Laskey and Leinhardt 1983): nodes in blocks; each pair of
 * distinct nodes is joined independently with probability `pIn` inside a block and `pOut` across.
 * The block is the node's label.
 */
import { check, checkInteger, checkInRange } from '../core/errors.js';
import { streamKey, uniform } from '../core/random.js';

export interface Graph {
  readonly nodes: number;
  /** Undirected edges [i, j] with i < j. */
  readonly edges: readonly (readonly [number, number])[];
  readonly labels: Int32Array;
  readonly classes: number;
}

export function stochasticBlockModel(o: { readonly blocks: readonly number[]; readonly pIn: number; readonly pOut: number; readonly seed: number }): Graph {
  check(Array.isArray(o.blocks) && o.blocks.length >= 1, () => 'stochasticBlockModel: blocks must list the size of each block');
  o.blocks.forEach((b, i) => checkInteger('stochasticBlockModel', `blocks[${i}]`, b, 1));
  checkInRange('stochasticBlockModel', 'pIn', o.pIn, 0, 1);
  checkInRange('stochasticBlockModel', 'pOut', o.pOut, 0, 1);
  checkInteger('stochasticBlockModel', 'seed', o.seed, 0);
  const labels = Int32Array.from(o.blocks.flatMap((size, block) => new Array<number>(size).fill(block)));
  const nodes = labels.length;
  const u = uniform((nodes * (nodes - 1)) / 2, streamKey(o.seed, 0x5b3));
  const edges: [number, number][] = [];
  let k = 0;
  for (let i = 0; i < nodes; i++) {
    for (let j = i + 1; j < nodes; j++) {
      if (u[k++]! < (labels[i] === labels[j] ? o.pIn : o.pOut)) edges.push([i, j]);
    }
  }
  return { nodes, edges, labels, classes: o.blocks.length };
}
