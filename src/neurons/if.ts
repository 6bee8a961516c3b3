/**
 * Integrate-and-fire: LIF with no leak (β = 1), u_t = u_{t−1} + m_t I_t − ϑ s_{t−1} (subtract reset).
 * It is the `lif` model with β fixed at 1, so it shares LIF's step, reverse filter and tangent.
 */
import { checkKeys } from '../core/errors.js';
import { LIF_KEYS, lifCore, type LIFOptions, type LIFParams } from './lif.js';

export function ifNeuron(options: Omit<LIFOptions, 'beta'> = {}): LIFParams {
  checkKeys(
    'if',
    options,
    LIF_KEYS.filter((k) => k !== 'beta'),
  );
  return { kind: 'lif', ...lifCore('if', { ...options, beta: 1 }) };
}
