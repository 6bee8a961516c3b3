/**
 * Neurons written as equations. The user gives each state variable's update in discrete time as a
 * mathjs expression of the previous step's state, the input current `I`, the previous step's spike
 * `s` and named parameters; which variable fires and at what threshold; and optionally a reset:
 * the update a variable follows instead on the step after a spike. snnTorch's `Leaky` is
 *
 *     equationNeuron({
 *       equations: { u: 'beta * u + I' },
 *       reset: { u: 'beta * u + I - theta' },          // subtract reset; 'I' alone is the zero reset
 *       spike: { variable: 'u', threshold: 'theta' },
 *       parameters: { beta: 0.9, theta: 1 },
 *     })
 *
 * so that x_t = G_x(x_{t−1}, I_t, s_{t−1}) with G_x = F_x + s (R_x − F_x), and s_t = H(v_t − Θ(x_t)).
 * The expressions are parsed and checked once (unknown symbols, a variable without an update, a
 * parameter without a value: errors naming it), compiled to tfjs ops, and differentiated by mathjs
 * `derivative`: ∂G/∂x, ∂G/∂I, ∂G/∂s, ∂G/∂θ and ∂Θ/∂x, ∂Θ/∂θ. From those the model's reverse filter
 * and tangent step follow with no learner code:
 *
 *     reverse (spikes fixed):  λ_t = ψ_t ∂g_t/∂x_t + λ_{t+1} ∂G(x_t, I_{t+1}, s_t)/∂x_t,   g_t = v_t − Θ_t
 *                              current adjoint λ_t ∂G/∂I,   ∂/∂θ: λ_t ∂G/∂θ − ψ_t ∂Θ/∂θ
 *     tangent:                 dx_t = ∂G/∂x dx_{t−1} + ∂G/∂I dI_t + ∂G/∂s ds_{t−1} + ∂G/∂θ dθ
 *                              ds_t = S'(v_t − Θ_t)(dv_t − dΘ_t)
 *
 * The reverse filter of a nonlinear model reads its state and input at every step, so an LR pass
 * stores them (T steps of the layer's state: the price of generality; built-in models store less).
 * The spiking variable is the state's `membrane`; the others keep their names; Θ_t is `threshold`.
 */
import * as tf from '@tensorflow/tfjs';
import type { MathNode } from 'mathjs';
import { mathjs } from '../core/mathjs.js';
import { check, checkKeys, show, SpikelrError } from '../core/errors.js';
import { compileFormula } from './formula.js';
import { spikeFire } from './lif.js';
import type { AdjointInput, Coefficients, Fire, NeuronModel, NeuronState, TangentInput } from './model.js';

export interface EquationOptions {
  /** A label for messages and files. */
  readonly name?: string;
  /** Update of each state variable, x_t = F_x(x_{t−1}, I_t, s_{t−1}; θ). */
  readonly equations: Readonly<Record<string, string>>;
  /** The update a variable follows instead on the step after a spike (default: its equation). */
  readonly reset?: Readonly<Record<string, string>>;
  /** s_t = H(variable_t − threshold_t); the threshold may depend on the new state and parameters. */
  readonly spike: { readonly variable: string; readonly threshold: string | number };
  readonly parameters?: Readonly<Record<string, number>>;
  /** Resting values of the variables (default 0). */
  readonly initial?: Readonly<Record<string, number>>;
}

export interface EquationParams {
  readonly kind: 'equation';
  readonly name: string;
  readonly equations: Readonly<Record<string, string>>;
  readonly reset: Readonly<Record<string, string>>;
  readonly spike: { readonly variable: string; readonly threshold: string };
  readonly parameters: Readonly<Record<string, number>>;
  readonly initial: Readonly<Record<string, number>>;
}

const RESERVED = ['I', 's', 'membrane', 'spikes', 'threshold', 'refractory', 'current', 'open', 'pi', 'e'];
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Fn = (values: Record<string, tf.Tensor | number>) => tf.Tensor;
/** A compiled derivative, or null where it is identically zero. */
type Derivative = Fn | null;

interface Derivatives {
  readonly state: Record<string, Record<string, Derivative>>; // ∂G_x/∂y as [x][y]
  readonly current: Record<string, Derivative>;
  readonly spike: Record<string, Derivative>;
  readonly parameter: Record<string, Record<string, Derivative>>; // ∂G_x/∂θ as [x][θ]
  readonly thresholdState: Record<string, Derivative>;
  readonly thresholdParameter: Record<string, Derivative>;
}

interface Compiled {
  readonly vars: readonly string[];
  readonly update: Record<string, Fn>;
  readonly threshold: Fn;
  derivatives(): Derivatives;
}

function checkRecord(where: string, what: string, value: unknown, kind: 'string' | 'number'): Record<string, string | number> {
  check(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    () => `${where}: ${what} must be an object of name → ${kind === 'string' ? 'expression' : 'number'}, got ${show(value)}`,
  );
  for (const [k, v] of Object.entries(value)) {
    check(IDENTIFIER.test(k), () => `${where}: ${what} name ${show(k)} is not an identifier (letters, digits, _)`);
    check(!RESERVED.includes(k), () => `${where}: ${what} name '${k}' is reserved (${RESERVED.join(', ')}); rename it`);
    if (kind === 'number') check(typeof v === 'number' && Number.isFinite(v), () => `${where}: ${what} '${k}' must be a finite number, got ${show(v)}`);
    else check(typeof v === 'string' && v.trim().length > 0, () => `${where}: ${what} for '${k}' must be a non-empty expression string, got ${show(v)}`);
  }
  return value as Record<string, string | number>;
}

/** Checks and normalises the options; compiles them once so that every error surfaces here. */
export function equationNeuron(options: EquationOptions): EquationParams {
  const where = `equationNeuron${options && typeof options.name === 'string' ? ` '${options.name}'` : ''}`;
  check(typeof options === 'object' && options !== null, () => `${where}: expected { equations, spike, parameters }, got ${show(options)}`);
  checkKeys(where, options, ['name', 'equations', 'reset', 'spike', 'parameters', 'initial']);
  const equations = checkRecord(where, 'variable', options.equations, 'string') as Record<string, string>;
  check(Object.keys(equations).length > 0, () => `${where}: equations must give at least one state variable's update, e.g. { u: 'beta * u + I' }`);
  const parameters = checkRecord(where, 'parameter', options.parameters ?? {}, 'number') as Record<string, number>;
  const reset = checkRecord(where, 'reset of variable', options.reset ?? {}, 'string') as Record<string, string>;
  const initial = checkRecord(where, 'initial value of', options.initial ?? {}, 'number') as Record<string, number>;
  for (const k of Object.keys(parameters)) check(!(k in equations), () => `${where}: '${k}' is both a state variable and a parameter`);
  for (const k of Object.keys(reset))
    check(k in equations, () => `${where}: reset given for '${k}', which has no equation; the variables are ${Object.keys(equations).join(', ')}`);
  for (const k of Object.keys(initial))
    check(k in equations, () => `${where}: initial value given for '${k}', which has no equation; the variables are ${Object.keys(equations).join(', ')}`);
  const spike = options.spike;
  check(typeof spike === 'object' && spike !== null, () => `${where}: spike must be { variable, threshold }, got ${show(spike)}`);
  checkKeys(`${where}: spike`, spike, ['variable', 'threshold']);
  check(
    typeof spike.variable === 'string' && spike.variable in equations,
    () => `${where}: spike.variable must name a state variable (${Object.keys(equations).join(', ')}), got ${show(spike.variable)}`,
  );
  check(
    (typeof spike.threshold === 'number' && Number.isFinite(spike.threshold)) || (typeof spike.threshold === 'string' && spike.threshold.trim().length > 0),
    () => `${where}: spike.threshold must be a number or an expression of the variables and parameters, got ${show(spike.threshold)}`,
  );
  const params: EquationParams = {
    kind: 'equation',
    name: options.name ?? 'equation',
    equations: { ...equations },
    reset: { ...reset },
    spike: { variable: spike.variable, threshold: String(spike.threshold) },
    parameters: { ...parameters },
    initial: { ...initial },
  };
  compiled(params);
  return params;
}

const cache = new WeakMap<EquationParams, Compiled>();

function compiled(p: EquationParams): Compiled {
  let c = cache.get(p);
  if (!c) cache.set(p, (c = compile(p)));
  return c;
}

function parseNamed(text: string, where: string): MathNode {
  try {
    return mathjs().parse(text);
  } catch (err) {
    throw new SpikelrError(`${where}: '${text}' is not an expression (${(err as Error).message})`);
  }
}

function compile(p: EquationParams): Compiled {
  const where = `equationNeuron '${p.name}'`;
  const vars = Object.keys(p.equations);
  const params = Object.keys(p.parameters);
  const updateSymbols = [...vars, 'I', 's', ...params];
  const thresholdSymbols = [...vars, ...params];
  // G_x = F_x + s (R_x − F_x): one expression per variable, differentiated as a whole
  const text: Record<string, string> = {};
  for (const x of vars) {
    const f = p.equations[x]!,
      r = p.reset[x];
    text[x] = r === undefined ? f : `(${f}) + s * ((${r}) - (${f}))`;
  }
  const update: Record<string, Fn> = {};
  for (const x of vars) {
    // the reset and the update are checked separately, so a message quotes what the user wrote
    compileFormula(p.equations[x]!, updateSymbols, `${where}: equation of '${x}'`);
    if (p.reset[x] !== undefined) compileFormula(p.reset[x]!, updateSymbols, `${where}: reset of '${x}'`);
    update[x] = compileFormula(text[x]!, updateSymbols, `${where}: equation of '${x}'`);
  }
  const threshold = compileFormula(p.spike.threshold, thresholdSymbols, `${where}: spike threshold (it may use the variables and parameters, not I or s)`);
  let derivatives: Derivatives | undefined;
  return {
    vars,
    update,
    threshold,
    derivatives() {
      return (derivatives ??= differentiate(p, text, vars, params, updateSymbols, thresholdSymbols, where));
    },
  };
}

function differentiate(
  p: EquationParams,
  text: Record<string, string>,
  vars: readonly string[],
  params: readonly string[],
  updateSymbols: string[],
  thresholdSymbols: string[],
  where: string,
): Derivatives {
  const d = (expr: string, by: string, symbols: string[], what: string): Derivative => {
    let node: MathNode;
    try {
      node = mathjs().simplify(mathjs().derivative(parseNamed(expr, where), by));
    } catch (err) {
      throw new SpikelrError(
        `${where}: cannot differentiate ${what} '${expr}' by '${by}' (${(err as Error).message}); learners need these derivatives: write it with + - * / ^ and exp, log, sqrt, tanh, sin, cos`,
      );
    }
    if (node.type === 'ConstantNode' && Number((node as unknown as { value: unknown }).value) === 0) return null;
    return compileFormula(node.toString(), symbols, `${where}: derivative of ${what} by '${by}'`);
  };
  const per = <T>(keys: readonly string[], f: (k: string) => T) => Object.fromEntries(keys.map((k) => [k, f(k)])) as Record<string, T>;
  return {
    state: per(vars, (x) => per(vars, (y) => d(text[x]!, y, updateSymbols, `the update of '${x}'`))),
    current: per(vars, (x) => d(text[x]!, 'I', updateSymbols, `the update of '${x}'`)),
    spike: per(vars, (x) => d(text[x]!, 's', updateSymbols, `the update of '${x}'`)),
    parameter: per(vars, (x) => per(params, (q) => d(text[x]!, q, updateSymbols, `the update of '${x}'`))),
    thresholdState: per(vars, (y) => d(p.spike.threshold, y, thresholdSymbols, 'the spike threshold')),
    thresholdParameter: per(params, (q) => d(p.spike.threshold, q, thresholdSymbols, 'the spike threshold')),
  };
}

/** The state field that holds variable `x`: the spiking variable is the membrane. */
const fieldOf = (p: EquationParams, x: string) => (x === p.spike.variable ? 'membrane' : x);

/** Parameter values: learned per-neuron coefficients where given, else the record's numbers. */
function parameterValues(p: EquationParams, c: Coefficients): Record<string, tf.Tensor | number> {
  return Object.fromEntries(Object.entries(p.parameters).map(([k, v]) => [k, c[k] ?? v]));
}

/** Arguments of the update that produced state_t: state_{t−1}, I_t, s_{t−1}, θ. */
function updateArguments(p: EquationParams, state: (field: string) => tf.Tensor, current: tf.Tensor, spikes: tf.Tensor, c: Coefficients) {
  const values: Record<string, tf.Tensor | number> = parameterValues(p, c);
  for (const x of Object.keys(p.equations)) values[x] = state(fieldOf(p, x));
  values['I'] = current;
  values['s'] = spikes;
  return values;
}

function stateArguments(p: EquationParams, state: (field: string) => tf.Tensor, c: Coefficients) {
  const values: Record<string, tf.Tensor | number> = parameterValues(p, c);
  for (const x of Object.keys(p.equations)) values[x] = state(fieldOf(p, x));
  return values;
}

/** Σ of the present terms (zero tensor of `like`'s shape when none is). */
function total(terms: (tf.Tensor | undefined)[], like: tf.Tensor): tf.Tensor {
  const present = terms.filter((t): t is tf.Tensor => t !== undefined);
  return present.length === 0 ? tf.zerosLike(like) : present.reduce((a, b) => tf.add(a, b));
}

const times = (f: Derivative, values: Record<string, tf.Tensor | number>, by: tf.Tensor | undefined) => (f && by ? tf.mul(f(values), by) : undefined);

export function equationStep(current: tf.Tensor, state: NeuronState, p: EquationParams, fire: Fire, t: number, c: Coefficients = {}): NeuronState {
  const k = compiled(p);
  return tf.tidy(() => {
    const args = updateArguments(p, (f) => state[f]!, current, state.spikes, c);
    const next: Record<string, tf.Tensor> = {};
    for (const x of k.vars) {
      let v = k.update[x]!(args);
      if (v.rank !== state.membrane.rank || v.shape.some((d, i) => d !== state.membrane.shape[i])) v = tf.add(v, tf.zerosLike(state.membrane));
      next[fieldOf(p, x)] = v;
    }
    const threshold = tf.add(k.threshold(stateArguments(p, (f) => next[f]!, c)), tf.zerosLike(next['membrane']!));
    return { ...next, threshold, spikes: fire(next['membrane']!, threshold, t) } as unknown as NeuronState;
  });
}

export const equationModel = {
  kind: 'equation',
  role: 'spiking',
  fromRecord: (o, where) => {
    try {
      return equationNeuron(o as unknown as EquationOptions);
    } catch (err) {
      if (err instanceof SpikelrError) throw new SpikelrError(`${where}: ${err.message}`);
      throw err;
    }
  },
  fields: (p) => [...Object.keys(p.equations).filter((x) => x !== p.spike.variable), 'threshold'],
  learnable: (p) => p.parameters,
  initialState(p, shape) {
    const state: Record<string, tf.Tensor> = { spikes: tf.zeros([...shape]) };
    for (const x of Object.keys(p.equations)) state[fieldOf(p, x)] = tf.fill([...shape], p.initial[x] ?? 0);
    state['threshold'] = tf.tidy(() => tf.add(compiled(p).threshold(stateArguments(p, (f) => state[f]!, {})), tf.zeros([...shape])));
    return state as unknown as NeuronState;
  },
  step: equationStep,
  fire: (_p, noise, key, scale) => spikeFire(noise, key, scale),
  adjointFields: (p) => [...Object.keys(p.equations).map((x) => fieldOf(p, x)), 'current'],
  adjoint(p, a: AdjointInput) {
    const k = compiled(p),
      D = k.derivatives();
    const at = (t: number) => (f: string) => a.trace.at(f, t);
    const stateNow = stateArguments(p, at(a.t), a.coefficients);
    const args = updateArguments(p, at(a.t - 1), a.trace.at('current', a.t), a.trace.at('spikes', a.t - 1), a.coefficients);
    const nextArgs = a.carry ? updateArguments(p, at(a.t), a.trace.at('current', a.t + 1), a.trace.at('spikes', a.t), a.coefficients) : undefined;
    // λ_t[x] = ψ_t ∂g_t/∂x + Σ_y λ_{t+1}[y] ∂G_y/∂x,   ∂g/∂x = [x = v] − ∂Θ/∂x
    const lambda = k.vars.map((x) => {
      const dThreshold = D.thresholdState[x];
      const direct =
        x === p.spike.variable
          ? dThreshold
            ? tf.mul(a.seed, tf.sub(1, dThreshold(stateNow)))
            : a.seed
          : dThreshold
            ? tf.neg(tf.mul(a.seed, dThreshold(stateNow)))
            : undefined;
      const carried = nextArgs ? k.vars.map((y, j) => times(D.state[y]![x]!, nextArgs, a.carry![j])) : [];
      return total([direct, ...carried], a.seed);
    });
    const current = total(
      k.vars.map((x, i) => times(D.current[x]!, args, lambda[i])),
      a.seed,
    );
    const coefficients: Record<string, tf.Tensor> = {};
    for (const q of Object.keys(p.parameters)) {
      if (!a.learned.has(q)) continue;
      const dThreshold = D.thresholdParameter[q];
      const terms = k.vars.map((x, i) => times(D.parameter[x]![q]!, args, lambda[i]));
      coefficients[q] = total([...terms, dThreshold ? tf.neg(tf.mul(a.seed, dThreshold(stateNow))) : undefined], a.seed);
    }
    return { current, carry: lambda, coefficients };
  },
  tangent(p, x: TangentInput) {
    const k = compiled(p),
      D = k.derivatives();
    const args = updateArguments(p, (f) => x.previous[f]!, x.current, x.previous.spikes, x.coefficients);
    const params = Object.keys(p.parameters);
    const out: Record<string, tf.Tensor> = {};
    for (const v of k.vars) {
      out[fieldOf(p, v)] = total(
        [
          ...k.vars.map((y) => times(D.state[v]![y]!, args, x.dPrevious[fieldOf(p, y)])),
          times(D.current[v]!, args, x.dCurrent),
          times(D.spike[v]!, args, x.dPrevious['spikes']),
          ...params.map((q) => times(D.parameter[v]![q]!, args, x.dCoefficients[q])),
        ],
        x.next.membrane,
      );
    }
    const stateNow = stateArguments(p, (f) => x.next[f]!, x.coefficients);
    const dThreshold = total(
      [
        ...k.vars.map((y) => times(D.thresholdState[y]!, stateNow, out[fieldOf(p, y)])),
        ...params.map((q) => times(D.thresholdParameter[q]!, stateNow, x.dCoefficients[q])),
      ],
      x.next.membrane,
    );
    const slope = x.derivative(tf.sub(x.next.membrane, x.next['threshold']!));
    return { ...out, threshold: dThreshold, spikes: tf.mul(slope, tf.sub(out['membrane']!, dThreshold)) };
  },
} satisfies NeuronModel<EquationParams>;
