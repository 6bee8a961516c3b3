/**
 * Elementwise formulas the user writes (a surrogate derivative in x = u − ϑ, say), parsed by mathjs
 * and compiled to tfjs ops, so they run on every backend inside autodiff: `1 / (1 + (pi*x)^2)`,
 * `exp(-abs(x)) / 2`, `max(0, 1 - abs(x))`. Checked once: syntax, variables, functions; the
 * numbers mathjs itself computes for the same formula are the reference in the tests.
 */
import * as tf from '@tensorflow/tfjs';
import type { MathNode } from 'mathjs';
import { mathjs } from '../core/mathjs.js';
import { SpikelrError } from '../core/errors.js';

type Op = (...args: tf.Tensor[]) => tf.Tensor;

const FUNCTIONS: Record<string, Op> = {
  exp: (a) => tf.exp(a!),
  log: (a) => tf.log(a!),
  sqrt: (a) => tf.sqrt(a!),
  abs: (a) => tf.abs(a!),
  sign: (a) => tf.sign(a!),
  tanh: (a) => tf.tanh(a!),
  atan: (a) => tf.atan(a!),
  sin: (a) => tf.sin(a!),
  cos: (a) => tf.cos(a!),
  erf: (a) => tf.erf(a!),
  sinh: (a) => tf.sinh(a!),
  cosh: (a) => tf.cosh(a!),
  sech: (a) => tf.div(1, tf.cosh(a!)),
  tan: (a) => tf.tan(a!),
  sigmoid: (a) => tf.sigmoid(a!),
  max: (a, b) => tf.maximum(a!, b!),
  min: (a, b) => tf.minimum(a!, b!),
};
const OPERATORS: Record<string, Op> = {
  add: (a, b) => tf.add(a!, b!),
  subtract: (a, b) => tf.sub(a!, b!),
  multiply: (a, b) => tf.mul(a!, b!),
  divide: (a, b) => tf.div(a!, b!),
  pow: (a, b) => tf.pow(a!, b!),
  unaryMinus: (a) => tf.neg(a!),
  unaryPlus: (a) => a!,
};
const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E };

/** Compiles `text` into an elementwise function of the named variables (tensors or numbers). */
export function compileFormula(text: string, variables: readonly string[], where: string): (values: Record<string, tf.Tensor | number>) => tf.Tensor {
  let root: MathNode;
  try {
    root = mathjs().parse(text);
  } catch (err) {
    throw new SpikelrError(`${where}: '${text}' is not a formula (${(err as Error).message})`);
  }
  const build = (n: MathNode): ((v: Record<string, tf.Tensor | number>) => tf.Tensor) => {
    const node = n as MathNode & {
      type: string;
      value?: unknown;
      name?: string;
      fn?: string | { name: string };
      args?: MathNode[];
      content?: MathNode;
      op?: string;
    };
    switch (node.type) {
      case 'ConstantNode': {
        const c = Number(node.value);
        if (!Number.isFinite(c)) throw new SpikelrError(`${where}: '${String(node.value)}' is not a number`);
        return () => tf.scalar(c);
      }
      case 'ParenthesisNode':
        return build(node.content!);
      case 'SymbolNode': {
        const name = node.name!;
        if (name in CONSTANTS) return () => tf.scalar(CONSTANTS[name]!);
        if (!variables.includes(name))
          throw new SpikelrError(`${where}: unknown variable '${name}' in '${text}'; the variables are ${variables.join(', ')} (constants pi, e)`);
        return (v) => (typeof v[name] === 'number' ? tf.scalar(v[name] as number) : (v[name] as tf.Tensor));
      }
      case 'OperatorNode': {
        const op = OPERATORS[node.fn as string];
        if (!op) throw new SpikelrError(`${where}: operator '${node.op}' is not supported in '${text}'; use + - * / ^`);
        const args = node.args!.map(build);
        return (v) => op(...args.map((a) => a(v)));
      }
      case 'FunctionNode': {
        const name = typeof node.fn === 'string' ? node.fn : (node.fn as { name: string }).name;
        const f = FUNCTIONS[name];
        if (!f) throw new SpikelrError(`${where}: unknown function '${name}' in '${text}'; available: ${Object.keys(FUNCTIONS).join(', ')}`);
        const arity = name === 'max' || name === 'min' ? 2 : 1;
        if (node.args!.length !== arity)
          throw new SpikelrError(`${where}: ${name} takes ${arity} argument${arity > 1 ? 's' : ''}, got ${node.args!.length} in '${text}'`);
        const args = node.args!.map(build);
        return (v) => f(...args.map((a) => a(v)));
      }
      default:
        throw new SpikelrError(`${where}: '${text}' uses ${node.type.replace('Node', '').toLowerCase()} syntax; write an arithmetic expression`);
    }
  };
  const f = build(root);
  return (values) => tf.tidy(() => f(values));
}
