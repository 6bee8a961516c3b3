/**
 * Reading a NIR graph for import: the primitives spikelr takes, the fields each must carry, its
 * subgraphs inlined with every node and edge checked, and its datasets read as per-neuron,
 * per-channel or paired values (errors name the node and the field).
 */
import { SpikelrError } from '../../core/errors.js';
import { isArray, type NirArray, type NirNode } from '../../neurons/nir.js';
export const WEIGHTS = ['Affine', 'Linear', 'Conv2d'];
export const NEURONS = ['LIF', 'CubaLIF', 'IF', 'LI', 'I'];
export const NIR_IMPORT_TYPES = ['Input', 'Output', ...WEIGHTS, ...NEURONS, 'Flatten', 'SumPool2d', 'AvgPool2d', 'NIRGraph'];

/** What each primitive must carry (v_reset may be absent: zero, as the reference reader has it). */
export const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  Input: ['shape'],
  Output: ['shape'],
  Affine: ['weight', 'bias'],
  Linear: ['weight'],
  Conv2d: ['weight', 'stride', 'padding'],
  LIF: ['tau', 'r', 'v_leak', 'v_threshold'],
  CubaLIF: ['tau_syn', 'tau_mem', 'r', 'v_leak', 'v_threshold'],
  IF: ['r', 'v_threshold'],
  LI: ['tau', 'r', 'v_leak'],
  I: ['r'],
  Flatten: ['start_dim', 'end_dim'],
  SumPool2d: ['kernel_size', 'stride', 'padding'],
  AvgPool2d: ['kernel_size', 'stride', 'padding'],
};

export const fail = (why: string): never => {
  throw new SpikelrError(`NIR import: ${why}`);
};

export interface Flat {
  readonly nodes: Map<string, NirNode>;
  readonly edges: [string, string][];
}

/** The graph with its subgraphs inlined (inner nodes named `<subgraph>.<node>`) and every node and edge checked. */
export function inline(graph: NirNode, where: string): Flat {
  const nodes = new Map<string, NirNode>();
  const edges: [string, string][] = [];
  const entry = new Map<string, string[]>(),
    exit = new Map<string, string[]>();
  for (const [name, node] of Object.entries(graph.nodes ?? {})) {
    const at = where ? `${where}.${name}` : name;
    if (node.type !== 'NIRGraph') {
      if (!NIR_IMPORT_TYPES.includes(node.type))
        fail(`node '${at}' has type '${node.type}', which spikelr cannot import; it imports ${NIR_IMPORT_TYPES.join(', ')}`);
      const missing = REQUIRED[node.type]!.filter((f) => !(f in node.fields));
      if (missing.length)
        fail(`node '${at}' (${node.type}) has no ${missing.map((m) => `'${m}'`).join(', ')}; a ${node.type} node carries ${REQUIRED[node.type]!.join(', ')}`);
      nodes.set(name, node);
      continue;
    }
    const inner = inline(node, at);
    const ins = [...inner.nodes].filter(([, n]) => n.type === 'Input').map(([k]) => k);
    const outs = [...inner.nodes].filter(([, n]) => n.type === 'Output').map(([k]) => k);
    if (ins.length !== 1 || outs.length !== 1)
      fail(`subgraph '${at}' has ${ins.length} Input and ${outs.length} Output nodes; spikelr inlines subgraphs with one of each`);
    for (const [k, n] of inner.nodes) if (n.type !== 'Input' && n.type !== 'Output') nodes.set(`${name}.${k}`, n);
    entry.set(
      name,
      inner.edges.filter(([a]) => a === ins[0]).map(([, b]) => `${name}.${b}`),
    );
    exit.set(
      name,
      inner.edges.filter(([, b]) => b === outs[0]).map(([a]) => `${name}.${a}`),
    );
    for (const [a, b] of inner.edges) if (a !== ins[0] && b !== outs[0]) edges.push([`${name}.${a}`, `${name}.${b}`]);
  }
  for (const [a, b] of graph.edges ?? []) {
    for (const end of [a, b]) {
      if (!nodes.has(end) && !entry.has(end))
        fail(
          `edge ('${a}', '${b}')${where ? ` in subgraph '${where}'` : ''} names '${end}', which is not a node of the graph (its nodes: ${[...nodes.keys(), ...entry.keys()].join(', ')})`,
        );
    }
    for (const from of exit.get(a) ?? [a]) for (const to of entry.get(b) ?? [b]) edges.push([from, to]);
  }
  return { nodes, edges };
}

export function array(name: string, node: NirNode, field: string): NirArray {
  const v = node.fields[field];
  if (!isArray(v)) fail(`node '${name}' (${node.type}): '${field}' must be numbers, got ${v === undefined ? 'nothing' : `the string '${v}'`}`);
  return v as NirArray;
}

/** A per-neuron parameter as one value per neuron of NIR shape `shape` (a single value is broadcast). */
export function perNeuron(name: string, node: NirNode, field: string, shape: readonly number[], fallback?: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (fallback !== undefined && !(field in node.fields)) return new Float64Array(n).fill(fallback);
  const v = array(name, node, field);
  for (const x of v.data) if (!Number.isFinite(x)) fail(`node '${name}' (${node.type}): '${field}' holds ${x}; NIR parameters are finite numbers`);
  if (v.data.length === 1) return new Float64Array(n).fill(v.data[0]!);
  if (v.shape.join() !== shape.join())
    fail(`node '${name}' (${node.type}): '${field}' has shape [${v.shape.join(', ')}], but the node before it gives it [${shape.join(', ')}]`);
  return Float64Array.from(v.data);
}

export const intsOf = (name: string, node: NirNode, field: string): number[] => {
  const v = array(name, node, field);
  if (!v.data.every(Number.isInteger)) fail(`node '${name}' (${node.type}): '${field}' must be integers, got [${[...v.data].join(', ')}]`);
  return [...v.data];
};

/** Both entries of a (height, width) pair, which spikelr needs equal; a single value stands for both. */
export function square(name: string, node: NirNode, field: string, what: string): number {
  const v = intsOf(name, node, field);
  if (v.length === 1) return v[0]!;
  if (v.length !== 2 || v[0] !== v[1])
    fail(`node '${name}' (${node.type}): ${field} [${v.join(', ')}]: spikelr's ${what} has the same value along height and width`);
  return v[0]!;
}

/** A float32 value written with the fewest digits that give it back (0.95, not 0.949999988079071). */
export function tidy(x: number): number {
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const y = Number(f.toPrecision(p));
    if (Math.fround(y) === f) return y;
  }
  return f;
}

/** Scales within this of 1 are 1: R, τ and w_in are stored in float32, so R dt/τ of an unscaled input lands within a few 1e-7 of 1. */
export const UNIT_TOLERANCE = 1e-6;

/** One value per channel of a [C, H, W] parameter, which must not vary within a channel. */
export function perChannel(name: string, node: NirNode, field: string, x: Float64Array, channels: number): Float64Array {
  const each = x.length / channels;
  const out = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    out[c] = x[c * each]!;
    for (let i = 1; i < each; i++) {
      if (x[c * each + i] !== out[c])
        fail(`node '${name}' (${node.type}): '${field}' varies within channel ${c}; spikelr's conv layers have one value per channel`);
    }
  }
  return out;
}
