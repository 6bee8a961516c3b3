/**
 * Layers: a layer spec (what the user writes, serialisable) is built against an input shape into
 * a layer with parameters. A layer maps its input to currents in one op for any number of rows,
 * so the feed-forward currents of all T steps are a single matmul/conv (DESIGN.md §4.1); its
 * neuron, if any, then runs the time loop.
 *
 * Shapes are per sample and per step: a dense layer takes `[in]`, a conv layer `[H, W, C]`.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, checkOneOf, show } from '../errors.js';
import { isSpiking, isUnit, lif, neuronFromRecord, readoutNeuron, type GRUParams, type NeuronParams, type ReadoutParams, type UnitParams } from '../neurons/params.js';
import { streamKey, uniform } from './random.js';

export const PADDINGS = ['same', 'valid'] as const;
export type Padding = (typeof PADDINGS)[number];
import { conv2dOp } from './conv.js';

export const LEARNABLE = ['beta', 'threshold', 'sigma'] as const;
/**
 * Coefficients a layer can learn, one per neuron (per channel in a conv layer): a spiking neuron's
 * decay and threshold, and for any unit its noise scale (σ_n = σ·exp(s_n), parameter
 * `noiseScale` = s, trained by the score of log σ).
 */
export type Learnable = (typeof LEARNABLE)[number];

export type LayerSpec =
  | { readonly kind: 'dense'; readonly name?: string; readonly units: number; readonly neuron: UnitParams; readonly bias: boolean; readonly learn: readonly Learnable[] }
  | { readonly kind: 'recurrent'; readonly name?: string; readonly units: number; readonly neuron: UnitParams; readonly bias: boolean; readonly learn: readonly Learnable[] }
  | {
      readonly kind: 'conv2d';
      readonly name?: string;
      readonly filters: number;
      readonly kernelSize: number;
      readonly stride: number;
      readonly padding: Padding;
      readonly neuron: UnitParams;
      readonly bias: boolean;
      readonly learn: readonly Learnable[];
    }
  | { readonly kind: 'readout'; readonly name?: string; readonly units: number; readonly neuron: ReadoutParams; readonly bias: boolean }
  | {
      readonly kind: 'graphConv';
      readonly name?: string;
      readonly units: number;
      /** Nodes of the graph; the batch is the graph's nodes (rows come in blocks of `nodes`). */
      readonly nodes: number;
      /** Undirected edges [i, j], 0-based. */
      readonly edges: readonly (readonly [number, number])[];
      readonly neuron: UnitParams;
      readonly bias: boolean;
    }
  | { readonly kind: 'gru'; readonly name?: string; readonly units: number; readonly neuron: GRUParams; readonly bias: boolean; readonly learn: readonly Learnable[] }
  | { readonly kind: 'maxPool2d'; readonly name?: string; readonly poolSize: number; readonly stride: number }
  | { readonly kind: 'flatten'; readonly name?: string };

export const LAYER_KINDS = ['dense', 'recurrent', 'conv2d', 'graphConv', 'gru', 'readout', 'maxPool2d', 'flatten'] as const;
export type LayerKind = LayerSpec['kind'];

/** A built layer. Its parameters are tfjs variables owned by the network that built it. */
export interface Layer {
  readonly name: string;
  readonly spec: LayerSpec;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** Shape of the currents per sample and step, when it is not the output's (a GRU's 3 gates). */
  readonly currentShape?: readonly number[];
  /** The neuron model, or undefined for a stateless layer (pooling, flatten). */
  readonly neuron: NeuronParams | undefined;
  readonly params: Readonly<Record<string, tf.Variable>>;
  /** Names of the parameters of the feed-forward map (`weight`, `bias`), in {@link map}'s order. */
  readonly mapParams: readonly string[];
  /**
   * The feed-forward map with explicit parameters, `[M, …inputShape] → [M, …outputShape]`: pure,
   * so a local vector–Jacobian product is `tf.grads` of it.
   */
  map(x: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor;
  /** Feed-forward currents with the layer's own parameters, for any number of rows M. */
  currents(x: tf.Tensor): tf.Tensor;
  /** Learned decay and threshold (per neuron or channel), if the spec asked for them. */
  readonly coefficients: {
    readonly beta?: tf.Variable;
    readonly threshold?: tf.Variable;
    readonly noiseScale?: tf.Variable;
    /** GRU recurrent weights and bias (also in `params`). */
    readonly recurrent?: tf.Variable;
    readonly recurrentBias?: tf.Variable;
  };
  /** Fixed tensors the layer owns (a graph's normalised adjacency); freed with the network. */
  readonly constants?: Readonly<Record<string, tf.Variable>>;
  /** Recurrent currents from the previous step's spikes, `[B, …outputShape] → [B, …outputShape]`. */
  recurrentCurrents?(spikes: tf.Tensor): tf.Tensor;
}

// ---------------------------------------------------------------------------------------------
// Spec constructors (validated at the boundary).

interface Named {
  readonly name?: string;
}

function checkName(where: string, name: unknown): void {
  check(name === undefined || (typeof name === 'string' && /^[A-Za-z_][\w-]*$/.test(name)), () => `${where}: name must be an identifier-like string (letters, digits, _ or -), got ${show(name)}`);
}

function named<T extends object>(spec: T, name: string | undefined): T & Named {
  return name === undefined ? spec : { ...spec, name };
}

type FullyConnectedOptions = Named & {
  readonly units: number;
  readonly neuron?: UnitParams;
  readonly bias?: boolean;
  /** Neuron coefficients to learn per neuron: 'beta' (decay), 'threshold'. */
  readonly learn?: readonly Learnable[];
};

function checkLearn(where: string, learn: unknown, neuron: UnitParams): readonly Learnable[] {
  const list = learn ?? [];
  check(neuron.kind !== 'analog' || (Array.isArray(list) && list.every((l) => l === 'sigma')), () => `${where}: an analog unit has no decay or threshold to learn (it can learn 'sigma')`);
  check(Array.isArray(list), () => `${where}: learn must be an array of ${LEARNABLE.map((l) => `'${l}'`).join(', ')}, got ${show(learn)}`);
  for (const l of list) checkOneOf(where, 'learnable coefficient', l, LEARNABLE);
  return [...new Set(list as Learnable[])];
}

function fullyConnected(kind: 'dense' | 'recurrent', o: FullyConnectedOptions): LayerSpec {
  checkKeys(kind, o, ['name', 'units', 'neuron', 'bias', 'learn']);
  checkName(kind, o.name);
  checkInteger(kind, 'units', o.units, 1);
  const neuron = spikingNeuron(kind, o.neuron ?? lif());
  return named({ kind, units: o.units, neuron, bias: o.bias ?? true, learn: checkLearn(kind, o.learn, neuron) }, o.name);
}

/** A fully connected spiking layer: I_t = x_t W + b drives `neuron` (LIF by default). */
export function dense(o: FullyConnectedOptions): LayerSpec {
  return fullyConnected('dense', o);
}

/** A spiking layer with its own recurrent weights: I_t = x_t W + s_{t−1} V + b. */
export function recurrent(o: FullyConnectedOptions): LayerSpec {
  return fullyConnected('recurrent', o);
}

/** A spiking convolution (NHWC): I_t = conv(x_t, K) + b, square kernel. */
export function conv2d(
  o: Named & {
    readonly filters: number;
    readonly kernelSize: number;
    readonly stride?: number;
    readonly padding?: Padding;
    readonly neuron?: UnitParams;
    readonly bias?: boolean;
    readonly learn?: readonly Learnable[];
  },
): LayerSpec {
  checkKeys('conv2d', o, ['name', 'filters', 'kernelSize', 'stride', 'padding', 'neuron', 'bias', 'learn']);
  checkName('conv2d', o.name);
  checkInteger('conv2d', 'filters', o.filters, 1);
  checkInteger('conv2d', 'kernelSize', o.kernelSize, 1);
  const stride = o.stride ?? 1;
  checkInteger('conv2d', 'stride', stride, 1);
  const padding = o.padding ?? 'same';
  checkOneOf('conv2d', 'padding', padding, PADDINGS);
  const neuron = spikingNeuron('conv2d', o.neuron ?? lif());
  const learn = checkLearn('conv2d', o.learn, neuron);
  return named({ kind: 'conv2d', filters: o.filters, kernelSize: o.kernelSize, stride, padding, neuron, bias: o.bias ?? true, learn }, o.name);
}

/** A non-spiking leaky readout: I_t = x_t W + b integrated by a leaky membrane, which is the output. */
export function readout(o: Named & { readonly units: number; readonly neuron?: ReadoutParams; readonly beta?: number; readonly bias?: boolean }): LayerSpec {
  checkKeys('readout', o, ['name', 'units', 'neuron', 'beta', 'bias']);
  checkName('readout', o.name);
  checkInteger('readout', 'units', o.units, 1);
  check(!(o.neuron && o.beta !== undefined), () => 'readout: give either neuron or beta, not both');
  const neuron = o.neuron ?? readoutNeuron(o.beta === undefined ? {} : { beta: o.beta });
  check(neuron.kind === 'readout', () => `readout: neuron must be a readout neuron (readoutNeuron()), got kind ${show(neuron.kind)}`);
  return named({ kind: 'readout', units: o.units, neuron, bias: o.bias ?? true }, o.name);
}

/**
 * Graph convolution (Kipf & Welling 2017): I = Â X W + b with Â = D^(−1/2) (A + I) D^(−1/2), the
 * symmetrically normalised adjacency with self-loops. The batch is the graph's nodes, so the rows
 * of one sample (one noise copy) are the N nodes together.
 */
export function graphConv(
  o: Named & { readonly units: number; readonly nodes: number; readonly edges: readonly (readonly [number, number])[]; readonly neuron?: UnitParams; readonly bias?: boolean },
): LayerSpec {
  checkKeys('graphConv', o, ['name', 'units', 'nodes', 'edges', 'neuron', 'bias']);
  checkName('graphConv', o.name);
  checkInteger('graphConv', 'units', o.units, 1);
  checkInteger('graphConv', 'nodes', o.nodes, 1);
  check(Array.isArray(o.edges), () => `graphConv: edges must be an array of [i, j] node pairs, got ${show(o.edges)}`);
  o.edges.forEach((e, k) =>
    check(Array.isArray(e) && e.length === 2 && e.every((v) => Number.isInteger(v) && v >= 0 && v < o.nodes),
      () => `graphConv: edge ${k} must be [i, j] with 0 <= i, j < ${o.nodes}, got ${show(e)}`));
  const neuron = spikingNeuron('graphConv', o.neuron ?? { kind: 'analog', activation: 'relu' });
  return named({ kind: 'graphConv', units: o.units, nodes: o.nodes, edges: o.edges.map(([i, j]) => [i, j] as const), neuron, bias: o.bias ?? true }, o.name);
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

/**
 * A gated recurrent unit layer (see {@link GRUParams} for the equations): parameters `weight`
 * [in, 3U], `bias` [3U], `recurrent` [U, 3U], `recurrentBias` [3U], gates in the order r, z, n.
 */
export function gru(o: Named & { readonly units: number; readonly bias?: boolean; readonly learn?: readonly Learnable[]; readonly neuron?: GRUParams }): LayerSpec {
  checkKeys('gru', o, ['name', 'units', 'bias', 'learn', 'neuron']);
  checkName('gru', o.name);
  checkInteger('gru', 'units', o.units, 1);
  const learn = o.learn ?? [];
  check(Array.isArray(learn) && learn.every((l) => l === 'sigma'), () => `gru: a GRU can learn only 'sigma', got ${show(learn)}`);
  return named({ kind: 'gru', units: o.units, neuron: { kind: 'gru' } as GRUParams, bias: o.bias ?? true, learn: [...new Set(learn)] }, o.name);
}

/** Max pooling over space for each step; on spikes it is an OR over the window. */
export function maxPool2d(o: Named & { readonly poolSize: number; readonly stride?: number }): LayerSpec {
  checkKeys('maxPool2d', o, ['name', 'poolSize', 'stride']);
  checkName('maxPool2d', o.name);
  checkInteger('maxPool2d', 'poolSize', o.poolSize, 1);
  const stride = o.stride ?? o.poolSize;
  checkInteger('maxPool2d', 'stride', stride, 1);
  return named({ kind: 'maxPool2d', poolSize: o.poolSize, stride }, o.name);
}

/** Flattens `[H, W, C]` to `[H·W·C]` for each step. */
export function flatten(o: Named = {}): LayerSpec {
  checkKeys('flatten', o, ['name']);
  checkName('flatten', o.name);
  return named({ kind: 'flatten' }, o.name);
}

function spikingNeuron(where: string, neuron: NeuronParams): UnitParams {
  check(isUnit(neuron), () => `${where}: neuron must be a spiking model (lif, ifNeuron, synaptic, alif) or an analog unit, got '${neuron.kind}'; use readout() for a leaky non-spiking output layer`);
  return neuron;
}

/** Validates a layer spec read from a file or config. */
export function layerFromRecord(record: unknown, where: string): LayerSpec {
  check(typeof record === 'object' && record !== null, () => `${where}: expected a layer object, got ${show(record)}`);
  const { kind, neuron, ...rest } = record as Record<string, unknown>;
  checkOneOf(where, 'layer kind', kind, LAYER_KINDS);
  const withNeuron = neuron === undefined ? rest : { ...rest, neuron: neuronFromRecord(neuron, `${where}.neuron`) };
  const o = withNeuron as never;
  switch (kind) {
    case 'dense':
      return dense(o);
    case 'recurrent':
      return recurrent(o);
    case 'conv2d':
      return conv2d(o);
    case 'readout':
      return readout(o);
    case 'maxPool2d':
      return maxPool2d(o);
    case 'flatten':
      return flatten(o);
    case 'graphConv':
      return graphConv(o);
    case 'gru':
      return gru(o);
  }
}

// ---------------------------------------------------------------------------------------------
// Building.

/** PyTorch's default for Linear and Conv: weight and bias ~ U(−1/√fan_in, 1/√fan_in), from a counter stream. */
function initVariable(shape: readonly number[], fanIn: number, key: number, name: string): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = uniform(n, key);
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (2 * u[i]! - 1) * bound;
  // tidy frees the initial tensor; the variable keeps its data.
  return tf.tidy(() => tf.variable(tf.tensor(values, [...shape], 'float32'), true, name));
}

function convOutput(size: number, kernel: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - kernel + 1) / stride);
}

/** Builds `spec` for per-step input shape `inputShape`, its parameters seeded from `(seed, index)`. */
/** Shape of a layer's currents per sample and step (a GRU's 3U gates, otherwise its output). */
export function currentShapeOf(layer: Layer): readonly number[] {
  return layer.currentShape ?? layer.outputShape;
}

/** A layer's name: its own, or its kind and position (`dense0`). */
export function layerName(spec: LayerSpec, index: number): string {
  return spec.name ?? `${spec.kind}${index}`;
}

function fillVariable(shape: readonly number[], value: number, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(tf.fill([...shape], value), true, name));
}

export function buildLayer(spec: LayerSpec, inputShape: readonly number[], index: number, seed: number, uid: string): Layer {
  const name = layerName(spec, index);
  const where = `${spec.kind} '${name}'`;
  const key = (slot: number) => streamKey(seed, index, slot);
  const varName = (p: string) => `${uid}/${name}.${p}`;
  const params: Record<string, tf.Variable> = {};
  const coefficients: { beta?: tf.Variable; threshold?: tf.Variable; noiseScale?: tf.Variable } = {};
  const base = { name, spec, inputShape, params, coefficients };
  /** Adds learnable per-neuron coefficients of `size` for a spiking spec. */
  const learnable = (size: number) => {
    if (!('learn' in spec)) return;
    const neuron = spec.neuron;
    for (const c of spec.learn) {
      if (c === 'sigma') {
        const v = fillVariable([spec.kind === 'gru' ? 3 * size : size], 0, varName('noiseScale'));
        params['noiseScale'] = v;
        coefficients.noiseScale = v;
      } else if (isSpiking(neuron)) {
        const v = fillVariable([size], neuron[c], varName(c));
        params[c] = v;
        coefficients[c] = v;
      }
    }
  };
  /** A layer whose map is `f(x, weight[, bias])`. */
  const affine = (outputShape: number[], neuron: NeuronParams, f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor): Layer => {
    const mapParams = params['bias'] ? ['weight', 'bias'] : ['weight'];
    const map = (x: tf.Tensor, p: readonly tf.Tensor[]) => tf.tidy(() => (p[1] ? tf.add(f(x, p[0]!), p[1]) : f(x, p[0]!)));
    return { ...base, outputShape, neuron, mapParams, map, currents: (x) => map(x, mapParams.map((n) => params[n]!)) };
  };
  switch (spec.kind) {
    case 'dense':
    case 'recurrent':
    case 'readout': {
      check(inputShape.length === 1, () => `${where}: input must be rank 1 per step, got shape ${show(inputShape)}; put flatten() before it`);
      const fanIn = inputShape[0]!;
      params['weight'] = initVariable([fanIn, spec.units], fanIn, key(0), varName('weight'));
      if (spec.bias) params['bias'] = initVariable([spec.units], fanIn, key(1), varName('bias'));
      if (spec.kind === 'recurrent') params['recurrent'] = initVariable([spec.units, spec.units], spec.units, key(2), varName('recurrent'));
      learnable(spec.units);
      const layer = affine([spec.units], spec.neuron, (x, w) => tf.matMul(x, w));
      if (spec.kind === 'recurrent') return { ...layer, recurrentCurrents: (s) => tf.matMul(s, params['recurrent']!) };
      return layer;
    }
    case 'conv2d': {
      check(inputShape.length === 3, () => `${where}: input must be rank 3 per step ([H, W, C]), got shape ${show(inputShape)}`);
      const [h, w, c] = inputShape as [number, number, number];
      const k = spec.kernelSize;
      const outH = convOutput(h, k, spec.stride, spec.padding);
      const outW = convOutput(w, k, spec.stride, spec.padding);
      check(outH > 0 && outW > 0, () => `${where}: kernel ${k} with padding 'valid' does not fit input ${show(inputShape)}`);
      const fanIn = k * k * c;
      params['weight'] = initVariable([k, k, c, spec.filters], fanIn, key(0), varName('weight'));
      if (spec.bias) params['bias'] = initVariable([spec.filters], fanIn, key(1), varName('bias'));
      learnable(spec.filters);
      const conv = conv2dOp(spec.stride, spec.padding);
      return affine([outH, outW, spec.filters], spec.neuron, (x, kernel) => conv(x as tf.Tensor4D, kernel as tf.Tensor4D));
    }
    case 'gru': {
      check(inputShape.length === 1, () => `${where}: input must be rank 1 per step, got shape ${show(inputShape)}; put flatten() before it`);
      const fanIn = inputShape[0]!, u = spec.units;
      // PyTorch's GRU initialisation: every weight and bias ~ U(−1/√U, 1/√U)
      params['weight'] = initVariable([fanIn, 3 * u], u, key(0), varName('weight'));
      if (spec.bias) params['bias'] = initVariable([3 * u], u, key(1), varName('bias'));
      params['recurrent'] = initVariable([u, 3 * u], u, key(2), varName('recurrent'));
      if (spec.bias) params['recurrentBias'] = initVariable([3 * u], u, key(3), varName('recurrentBias'));
      learnable(u);
      const layer = affine([u], spec.neuron, (x, w) => tf.matMul(x, w));
      const gates = { recurrent: params['recurrent'], ...(params['recurrentBias'] ? { recurrentBias: params['recurrentBias'] } : {}) };
      return { ...layer, currentShape: [3 * u], coefficients: { ...coefficients, ...gates } };
    }
    case 'graphConv': {
      check(inputShape.length === 1, () => `${where}: input must be rank 1 per node and step ([features]), got shape ${show(inputShape)}`);
      const fanIn = inputShape[0]!;
      const n = spec.nodes;
      params['weight'] = initVariable([fanIn, spec.units], fanIn, key(0), varName('weight'));
      if (spec.bias) params['bias'] = initVariable([spec.units], fanIn, key(1), varName('bias'));
      const adjacency = tf.tidy(() => tf.variable(tf.tensor2d(normalizedAdjacency(n, spec.edges), [n, n]), false, varName('adjacency')));
      const propagate = (y: tf.Tensor) => {
        const rows = y.shape[0]!;
        check(rows % n === 0, () => `${where}: rows must come in blocks of the graph's ${n} nodes (the batch is the nodes), got ${rows}`);
        const blocks = rows / n, u = y.shape[1]!;
        // Â applied to every block of n rows at once: [n, n] × [n, blocks·u]
        const mixed = tf.matMul(adjacency, tf.reshape(tf.transpose(tf.reshape(y, [blocks, n, u]), [1, 0, 2]), [n, blocks * u]));
        return tf.reshape(tf.transpose(tf.reshape(mixed, [n, blocks, u]), [1, 0, 2]), [rows, u]);
      };
      const layer = affine([spec.units], spec.neuron, (x, w) => propagate(tf.matMul(x, w)));
      return { ...layer, constants: { adjacency } };
    }
    case 'maxPool2d': {
      check(inputShape.length === 3, () => `${where}: input must be rank 3 per step ([H, W, C]), got shape ${show(inputShape)}`);
      const [h, w, c] = inputShape as [number, number, number];
      const outH = Math.ceil((h - spec.poolSize + 1) / spec.stride);
      const outW = Math.ceil((w - spec.poolSize + 1) / spec.stride);
      check(outH > 0 && outW > 0, () => `${where}: pool ${spec.poolSize} does not fit input ${show(inputShape)}`);
      const map = (x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, spec.poolSize, spec.stride, 'valid');
      return { ...base, outputShape: [outH, outW, c], neuron: undefined, mapParams: [], map, currents: map };
    }
    case 'flatten': {
      const size = inputShape.reduce((a, b) => a * b, 1);
      const map = (x: tf.Tensor) => tf.reshape(x, [x.shape[0]!, size]);
      return { ...base, outputShape: [size], neuron: undefined, mapParams: [], map, currents: map };
    }
  }
}
