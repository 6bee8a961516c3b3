/**
 * mathjs, loaded on first use. Importing it takes about a second, which every command used to pay
 * at start-up (`spikelr --version`, a config error) though only formulas — schedules, surrogates,
 * neuron equations — need it. (The web build bundles it: src/core/platform/web.ts.)
 */
import type * as MathJs from 'mathjs';
import { loadMathjs } from './platform/node.js';

let loaded: typeof MathJs | undefined;

export function mathjs(): typeof MathJs {
  return (loaded ??= loadMathjs());
}
