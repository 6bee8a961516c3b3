/**
 * Schedules: a factor on the base learning rate (or on LR's escape-noise σ) at each optimizer step.
 * Named schedules, or a formula the user writes, parsed and compiled by mathjs, in the variables
 *   step (0-based optimizer step), total (steps in the run), progress = step/total,
 *   epoch (0-based), stepsPerEpoch,
 * e.g. `0.5 * (1 + cos(pi * progress))` (cosine decay) or `0.1 ^ floor(epoch / 3)` (step decay).
 * A formula is checked once, at the boundary: unknown variables, syntax errors, and values that are
 * not finite and ≥ 0 (a noise schedule: > 0) at the start, middle and end of the run are errors that
 * say so.
 */
import type { EvalFunction, MathNode } from 'mathjs';
import { mathjs } from '../core/mathjs.js';
import { SpikelrError } from '../core/errors.js';

export const SCHEDULE_VARIABLES = ['step', 'total', 'progress', 'epoch', 'stepsPerEpoch'] as const;
export const NAMED_SCHEDULES = { constant: '1', cosine: '0.5 * (1 + cos(pi * progress))', linear: '1 - progress' } as const;
/**
 * Named noise schedules. 'anneal': σ at its full value for the first half of the run, falling
 * linearly to a fifth of it by 70% of the run and held there — the network LR trains is a noisy one,
 * the one evaluated and deployed is noise-free; trained last at small σ the two agree.
 */
export const NAMED_NOISE_SCHEDULES = { constant: '1', anneal: 'max(0.2, min(1, 3 - 4 * progress))' } as const;

/** What a schedule scales: its name in errors, its named schedules, and whether 0 is allowed. */
export interface ScheduleKind {
  readonly label: string;
  readonly named: Readonly<Record<string, string>>;
  /** Values must be > 0 (not only ≥ 0). */
  readonly positive: boolean;
}
export const LEARNING_RATE: ScheduleKind = { label: 'learning-rate schedule', named: NAMED_SCHEDULES, positive: false };
/** A factor on every layer's escape-noise σ (LR). */
export const NOISE_SCALE: ScheduleKind = { label: 'noise schedule', named: NAMED_NOISE_SCHEDULES, positive: true };

export interface ScheduleContext {
  readonly total: number;
  readonly stepsPerEpoch: number;
}

/** Factor on the learning rate at optimizer step `step` (0-based). */
export type Schedule = (step: number) => number;

const CONSTANTS = new Set(['pi', 'e', 'tau', 'Infinity']);

/** Parses and checks `text` (a name of the kind's named schedules or a formula): syntax and variables. */
export function parseSchedule(text: string, kind: ScheduleKind = LEARNING_RATE): EvalFunction {
  const where = `${kind.label} '${text}'`;
  const formula = kind.named[text] ?? text;
  let node: MathNode;
  try {
    node = mathjs().parse(formula);
  } catch (err) {
    throw new SpikelrError(
      `${where}: not a formula (${(err as Error).message}); use one of ${Object.keys(kind.named).join(', ')} or an expression in ${SCHEDULE_VARIABLES.join(', ')}`,
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

/** Compiles `text` (a name of the kind's named schedules or a formula) for a run of `context`. */
export function schedule(text: string, context: ScheduleContext, kind: ScheduleKind = LEARNING_RATE): Schedule {
  const where = `${kind.label} '${text}'`;
  const code = parseSchedule(text, kind);
  const { total, stepsPerEpoch } = context;
  const at = (step: number): number => {
    let value: unknown;
    try {
      value = code.evaluate({ step, total, progress: step / total, epoch: Math.floor(step / stepsPerEpoch), stepsPerEpoch });
    } catch (err) {
      throw new SpikelrError(`${where}: ${(err as Error).message}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (kind.positive && value === 0)) {
      const bound = kind.positive ? '> 0 (σ times 0 leaves no noise to score)' : '>= 0';
      throw new SpikelrError(`${where}: gives ${String(value)} at step ${step} of ${total}; it must give a finite number ${bound}`);
    }
    return value;
  };
  for (const step of [0, Math.floor(total / 2), Math.max(0, total - 1)]) at(step);
  return at;
}
