/**
 * Learning-rate schedules: a factor on the base rate at each optimizer step. Named schedules, or a
 * formula the user writes, parsed and compiled by mathjs, in the variables
 *   step (0-based optimizer step), total (steps in the run), progress = step/total,
 *   epoch (0-based), stepsPerEpoch,
 * e.g. `0.5 * (1 + cos(pi * progress))` (cosine decay) or `0.1 ^ floor(epoch / 3)` (step decay).
 * A formula is checked once, at the boundary: unknown variables, syntax errors, and values that are
 * not finite and ≥ 0 at the start, middle and end of the run are errors that say so.
 */
import type { EvalFunction, MathNode } from 'mathjs';
import { mathjs } from '../core/mathjs.js';
import { SpikelrError } from '../core/errors.js';

export const SCHEDULE_VARIABLES = ['step', 'total', 'progress', 'epoch', 'stepsPerEpoch'] as const;
export const NAMED_SCHEDULES = { constant: '1', cosine: '0.5 * (1 + cos(pi * progress))', linear: '1 - progress' } as const;

export interface ScheduleContext {
  readonly total: number;
  readonly stepsPerEpoch: number;
}

/** Factor on the learning rate at optimizer step `step` (0-based). */
export type Schedule = (step: number) => number;

const CONSTANTS = new Set(['pi', 'e', 'tau', 'Infinity']);

/** Parses and checks `text` (a name of {@link NAMED_SCHEDULES} or a formula): syntax and variables. */
export function parseSchedule(text: string): EvalFunction {
  const where = `learning-rate schedule '${text}'`;
  const formula = (NAMED_SCHEDULES as Record<string, string>)[text] ?? text;
  let node: MathNode;
  try {
    node = mathjs().parse(formula);
  } catch (err) {
    throw new SpikelrError(
      `${where}: not a formula (${(err as Error).message}); use one of ${Object.keys(NAMED_SCHEDULES).join(', ')} or an expression in ${SCHEDULE_VARIABLES.join(', ')}`,
    );
  }
  node.traverse((n, _path, parent) => {
    if (n.type === 'AssignmentNode' || n.type === 'FunctionAssignmentNode')
      throw new SpikelrError(`${where}: assignments are not allowed; write an expression`);
    if (n.type !== 'SymbolNode' || (parent?.type === 'FunctionNode' && (parent as unknown as { fn: MathNode }).fn === n)) return;
    const name = (n as unknown as { name: string }).name;
    if (!(SCHEDULE_VARIABLES as readonly string[]).includes(name) && !CONSTANTS.has(name)) {
      throw new SpikelrError(`${where}: unknown variable '${name}'; the variables are ${SCHEDULE_VARIABLES.join(', ')}`);
    }
  });
  return node.compile();
}

/** Compiles `text` (a name of {@link NAMED_SCHEDULES} or a formula) for a run of `context`. */
export function schedule(text: string, context: ScheduleContext): Schedule {
  const where = `learning-rate schedule '${text}'`;
  const code = parseSchedule(text);
  const { total, stepsPerEpoch } = context;
  const at = (step: number): number => {
    let value: unknown;
    try {
      value = code.evaluate({ step, total, progress: step / total, epoch: Math.floor(step / stepsPerEpoch), stepsPerEpoch });
    } catch (err) {
      throw new SpikelrError(`${where}: ${(err as Error).message}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new SpikelrError(`${where}: gives ${String(value)} at step ${step} of ${total}; it must give a finite number >= 0`);
    }
    return value;
  };
  for (const step of [0, Math.floor(total / 2), Math.max(0, total - 1)]) at(step);
  return at;
}
