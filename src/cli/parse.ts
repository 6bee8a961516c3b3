/** Flag parsers for the command line: each names the flag and the value it could not use. */
import { InvalidArgumentError } from 'commander';
import { NOISE_KINDS, escapeNoise, type EscapeNoise, type NoiseKind } from '../neurons/noise.js';

export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    return n;
  };
}

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

export function choice<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}, got '${value}'`);
    }
    return value as T;
  };
}

/** `kind:sigma`, e.g. `logistic:0.5`. */
export function noise(value: string): EscapeNoise {
  const [kind, sigma] = value.split(':');
  if (!kind || !(NOISE_KINDS as readonly string[]).includes(kind) || sigma === undefined || !(Number(sigma) > 0)) {
    throw new InvalidArgumentError(`expected KIND:SIGMA with KIND one of ${NOISE_KINDS.join(', ')} and SIGMA > 0, got '${value}'`);
  }
  return escapeNoise(kind as NoiseKind, Number(sigma));
}
