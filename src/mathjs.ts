/**
 * mathjs, loaded on first use. Importing it takes about a second, which every command used to pay
 * at start-up (`spikelr --version`, a config error) though only formulas — schedules, surrogates,
 * neuron equations — need it. (A browser build maps this module to a static import.)
 */
import { createRequire } from 'node:module';
import type * as MathJs from 'mathjs';

let loaded: typeof MathJs | undefined;

export function mathjs(): typeof MathJs {
  return (loaded ??= createRequire(import.meta.url)('mathjs') as typeof MathJs);
}
