/**
 * The plug-in shape holds: nothing outside a model's or a layer kind's own folder switches on its
 * kind, so a new neuron model, layer kind or estimator is one file and one registry line. The kinds
 * come from the registries, so a kind added later is covered too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ESTIMATORS, METHODS } from '../src/learning/estimators/registry.js';
import { NEURON_KINDS, NEURON_MODELS } from '../src/neurons/registry.js';
import { LAYER_KINDS } from '../src/sim/layers/registry.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? (f === 'assembly' ? [] : files(p)) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Lines of `files` that compare a `.kind` with one of `kinds`, or take a `case` on one. */
function switches(paths: string[], kinds: readonly string[]): string[] {
  const names = kinds.join('|');
  const pattern = new RegExp(`kind\\s*[!=]==?\\s*'(${names})'|'(${names})'\\s*[!=]==?\\s*[\\w.!]*kind\\b|case\\s+'(${names})'\\s*:`);
  return paths.flatMap((p) =>
    readFileSync(p, 'utf8')
      .split('\n')
      .flatMap((line, i) => (pattern.test(line) ? [`${p}:${i + 1}: ${line.trim()}`] : [])),
  );
}

describe('plug-ins', () => {
  it('no switch on a neuron kind outside src/neurons, nor on a layer kind outside src/sim/layers', () => {
    const all = files('src');
    const pattern = /kind\s*===\s*'lif'/;
    expect(pattern.test("if (p.kind === 'lif') …")).toBe(true); // the check can see one
    expect(
      switches(
        all.filter((p) => !p.startsWith(path.join('src', 'neurons'))),
        NEURON_KINDS,
      ),
    ).toEqual([]);
    expect(
      switches(
        all.filter((p) => !p.startsWith(path.join('src', 'sim', 'layers'))),
        LAYER_KINDS,
      ),
    ).toEqual([]);
  });

  it('no switch on a neuron or layer kind in src/learning', () => {
    const learning = files(path.join('src', 'learning'));
    expect(learning.length).toBeGreaterThan(10);
    expect(switches(learning, [...NEURON_KINDS, ...LAYER_KINDS])).toEqual([]);
  });

  it('every registered model has every part, and every method builds an estimator', () => {
    for (const m of Object.values(NEURON_MODELS)) {
      for (const part of ['fromRecord', 'fields', 'learnable', 'initialState', 'step', 'fire', 'adjointFields', 'adjoint', 'tangent'] as const)
        expect(typeof m[part], `${m.kind}.${part}`).toBe('function');
    }
    expect(METHODS).toEqual(Object.keys(ESTIMATORS));
    for (const name of METHODS) expect(ESTIMATORS[name].name).toBe(name);
  });
});
