/** Pieces every layer kind uses: names, parameter initialisation, learned neuron coefficients, affine maps. */
import * as tf from '@tensorflow/tfjs';
import { check, checkOneOf, show } from '../../core/errors.js';
import { modelOf, type NeuronParams } from '../../neurons/registry.js';
import { uniform } from '../../core/random.js';
import { DECORRELATION, INPUT_MEAN, type Decorrelator } from './decorrelation.js';
import type { BuildContext, Layer, ParamTensors } from './types.js';

/**
 * Coefficients a layer can learn, one per neuron (per channel in a conv layer): what the neuron
 * model lists (a LIF-family neuron's decay `beta` and threshold; an equation neuron's parameters),
 * and for any unit its noise scale `sigma` (σ_n = σ·exp(s_n), parameter `noiseScale` = s, trained
 * by the score of log σ).
 */
export type Learnable = string;
/** The built-in models' learnable coefficients (an equation neuron adds its parameters). */
export const LEARNABLE = ['beta', 'threshold', 'sigma'] as const;

export interface Named {
  readonly name?: string;
}

export function checkName(where: string, name: unknown): void {
  check(
    name === undefined || (typeof name === 'string' && /^[A-Za-z_][\w-]*$/.test(name)),
    () => `${where}: name must be an identifier-like string (letters, digits, _ or -), got ${show(name)}`,
  );
}

export function named<T extends object>(spec: T, name: string | undefined): T & Named {
  return name === undefined ? spec : { ...spec, name };
}

/** A hidden layer's neuron: a spiking model or an analog unit, not a readout. */
export function unitNeuron<P extends NeuronParams>(where: string, neuron: P): Exclude<P, { kind: 'readout' }> {
  check(
    typeof neuron === 'object' && neuron !== null && typeof (neuron as { kind?: unknown }).kind === 'string',
    () => `${where}: neuron must be a neuron record such as lif(), got ${show(neuron)}`,
  );
  check(
    modelOf(neuron).role !== 'readout',
    () =>
      `${where}: neuron must be a spiking model (lif, ifNeuron, synaptic, alif, equationNeuron) or an analog unit, got '${neuron.kind}'; use readout() for a leaky non-spiking output layer`,
  );
  return neuron as Exclude<P, { kind: 'readout' }>;
}

/** Checks `learn` against what the neuron can learn (its model's coefficients, and 'sigma'). */
export function checkLearn(where: string, learn: unknown, neuron: NeuronParams): readonly Learnable[] {
  const list = learn ?? [];
  const allowed = [...Object.keys(modelOf(neuron).learnable(neuron as never)), 'sigma'];
  check(Array.isArray(list), () => `${where}: learn must be an array of ${allowed.map((l) => `'${l}'`).join(', ')}, got ${show(learn)}`);
  for (const l of list) {
    check(allowed.includes(l as string), () =>
      l === 'beta' || l === 'threshold'
        ? `${where}: a '${neuron.kind}' unit has no ${l === 'beta' ? 'decay' : 'threshold'} to learn (it can learn ${allowed.map((a) => `'${a}'`).join(', ')})`
        : `${where}: unknown learnable coefficient ${show(l)}; expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
    );
    checkOneOf(where, 'learnable coefficient', l, allowed);
  }
  return [...new Set(list as Learnable[])];
}

/** PyTorch's default for Linear and Conv: weight and bias ~ U(−1/√fan_in, 1/√fan_in), from a counter stream. */
export function initVariable(shape: readonly number[], fanIn: number, key: number, name: string): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = uniform(n, key);
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (2 * u[i]! - 1) * bound;
  // tidy frees the initial tensor; the variable keeps its data.
  return tf.tidy(() => tf.variable(tf.tensor(values, [...shape], 'float32'), true, name));
}

function fillVariable(shape: readonly number[], value: number, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(tf.fill([...shape], value), true, name));
}

/** The neuron coefficients `learn` names, without the noise scale: a layer's `learned`. */
export function learnedNames(learn: readonly Learnable[]): string[] {
  return learn.filter((c) => c !== 'sigma');
}

/**
 * The learned per-neuron coefficients of `size` neurons (`noiseSize` noise scales) that `learn`
 * names, added to `params`; returned as the layer's coefficients.
 */
export function learnedCoefficients(
  ctx: BuildContext,
  neuron: NeuronParams,
  learn: readonly Learnable[],
  size: number,
  params: Record<string, tf.Variable>,
  noiseSize = size,
): Record<string, tf.Variable> {
  const initial = modelOf(neuron).learnable(neuron as never);
  const coefficients: Record<string, tf.Variable> = {};
  for (const c of learn) {
    const name = c === 'sigma' ? 'noiseScale' : c;
    const v = c === 'sigma' ? fillVariable([noiseSize], 0, ctx.varName(name)) : fillVariable([size], initial[c]!, ctx.varName(name));
    params[name] = v;
    coefficients[name] = v;
  }
  return coefficients;
}

export function checkRank1(ctx: BuildContext, what = 'per step'): number {
  check(ctx.inputShape.length === 1, () => `${ctx.where}: input must be rank 1 ${what}, got shape ${show(ctx.inputShape)}; put flatten() before it`);
  return ctx.inputShape[0]!;
}

/** The per-step input `[H, W, C]` of an image layer (conv, pooling). */
export function checkImage(ctx: BuildContext): [number, number, number] {
  check(ctx.inputShape.length === 3, () => `${ctx.where}: input must be rank 3 per step ([H, W, C]), got shape ${show(ctx.inputShape)}`);
  return ctx.inputShape as [number, number, number];
}

/** Sums a gradient over every axis but the last (a bias's gradient). */
export function sumToLast(x: tf.Tensor): tf.Tensor {
  return x.rank === 1 ? x.clone() : tf.sum(x, [...Array(x.rank - 1).keys()]);
}

/** The key under which {@link Layer.prepareTangents} puts a decorrelated layer's fused weight tangent Rᵀ dW. */
const FUSED_TANGENT = 'fusedWeightTangent';

/** A layer's input decorrelation: its decorrelator, and its input vectors (rows or patches) `[N, P]`. */
export interface AffineDecorrelation {
  readonly decorrelator: Decorrelator;
  /** The input vectors R acts on, from a layer input `[M, …in]`. */
  readonly vectors: (x: tf.Tensor) => tf.Tensor;
  /** Input vectors per sample and step (a conv layer's output positions; 1 for a dense layer). */
  readonly positions: number;
}

/**
 * A layer whose map is `f(x, W) + b` with f bilinear in (x, W): its JVP is f(dx, W) + f(x, dW) + db,
 * its VJP `weightVjp(x, g)` for W (autodiff of f by default) and Σ g for b. With `decorrelation`,
 * f takes the fused weight A = Rᵀ W and the bias the offset −μ A (see decorrelation.ts).
 */
export function affineLayer(
  ctx: BuildContext,
  base: {
    readonly spec: Layer['spec'];
    readonly neuron: NeuronParams;
    readonly params: Record<string, tf.Variable>;
    readonly coefficients: Record<string, tf.Variable>;
    readonly learned: readonly string[];
  },
  outputShape: readonly number[],
  f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor,
  weightVjp?: (x: tf.Tensor, g: tf.Tensor) => tf.Tensor,
  decorrelation?: AffineDecorrelation,
): Layer {
  const params = base.params;
  const mapParams = params['bias'] ? ['weight', 'bias'] : ['weight'];
  const d = decorrelation?.decorrelator;
  const fuse = (w: tf.Tensor) => (d ? d.fuse(w) : w);
  /** f(x, A) plus the bias and the centring offset of A, any of them absent. */
  const affine = (x: tf.Tensor, a: tf.Tensor, bias: tf.Tensor | undefined) => {
    const shift = [bias, d?.offset(a)].filter((t): t is tf.Tensor => t !== undefined);
    return shift.reduce((y, t) => tf.add(y, t), f(x, a));
  };
  const map = (x: tf.Tensor, p: readonly tf.Tensor[]) => tf.tidy(() => affine(x, fuse(p[0]!), p[1]));
  const vjpWeight = weightVjp ?? ((x: tf.Tensor, g: tf.Tensor) => tf.grad((w: tf.Tensor) => f(x, w))(params['weight']!, g));
  return {
    ...base,
    name: ctx.name,
    inputShape: ctx.inputShape,
    outputShape,
    mapParams,
    // a decorrelated layer samples its inputs as it maps them
    affine: !d,
    ...(d ? { decorrelation: d, buffers: Object.keys(params).filter((n) => n === DECORRELATION || n === INPUT_MEAN) } : {}),
    map,
    currents(x, repeats = 1) {
      if (decorrelation) d!.capture(() => decorrelation.vectors(x), decorrelation.positions, repeats);
      return map(
        x,
        mapParams.map((n) => params[n]!),
      );
    },
    vjp(x, g) {
      const gA = vjpWeight(x, g);
      const gSum = params['bias'] || d?.mean ? sumToLast(g) : undefined;
      const out: Record<string, tf.Tensor> = { weight: d ? d.weightGradient(gA, gSum) : gA };
      if (d) gA.dispose();
      if (params['bias']) out['bias'] = gSum!;
      else gSum?.dispose();
      return out;
    },
    ...(d ? { prepareTangents: (dp: ParamTensors) => (dp['weight'] ? { ...dp, [FUSED_TANGENT]: tf.tidy(() => fuse(dp['weight']!)) } : dp) } : {}),
    jvp(x, dx, dp) {
      return tf.tidy(() => {
        const a = fuse(params['weight']!);
        const dA = dp[FUSED_TANGENT] ?? (dp['weight'] ? fuse(dp['weight']) : undefined);
        const terms = [dx ? f(dx, a) : undefined, dA ? affine(x, dA, undefined) : undefined].filter((t): t is tf.Tensor => t !== undefined);
        const linear = terms.length ? terms.reduce((s, t) => tf.add(s, t)) : tf.zerosLike(f(x, a));
        return dp['bias'] ? tf.add(linear, dp['bias']) : linear;
      });
    },
  };
}
