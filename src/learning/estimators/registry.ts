/**
 * The training methods spikelr knows, by name. A new estimator is one file (its `Estimator` and
 * `Method`) and one line here; `spikelr train --method`, `spikelr compare --methods`, the config
 * validation and the bench take their choices from this list.
 */
import { SpikelrError } from '../../core/errors.js';
import { bpttMethod } from './bptt.js';
import { fgActivityMethod, fgMethod } from './fg.js';
import { lrMethod } from './lr.js';
import type { Method } from './types.js';

export const ESTIMATORS = {
  lr: lrMethod,
  bptt: bpttMethod,
  fg: fgMethod,
  'fg-activity': fgActivityMethod,
} as const satisfies Record<string, Method>;

export type MethodName = keyof typeof ESTIMATORS;
export const METHODS = Object.keys(ESTIMATORS) as MethodName[];

/** The registered method called `name`; an error names those that are. */
export function methodOf(name: string, where = 'method'): Method {
  const m = (ESTIMATORS as Record<string, Method>)[name];
  if (!m) throw new SpikelrError(`${where}: unknown method '${name}'; registered methods are ${METHODS.map((n) => `'${n}'`).join(', ')}`);
  return m;
}
