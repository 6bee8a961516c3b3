import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { initialState, stateTensors } from '../src/neurons/dynamics.js';
import { heaviside, type Fire } from '../src/neurons/firing.js';
import type { NeuronParams } from '../src/neurons/params.js';
import { runSequence } from '../src/sim/loop.js';

/** Runs one population on currents [T][N] (batch 1); returns spikes and membranes as [T][N] arrays. */
export function simulatePopulation(p: NeuronParams, currents: number[][], fire: Fire = heaviside): { spikes: number[][]; membrane: number[][] } {
  const steps = currents.length;
  const n = currents[0]!.length;
  const c = tf.tensor(currents.flat(), [steps, 1, n]);
  const seq = runSequence(p, c, initialState(p, [1, n]), fire, { keepSpikes: p.kind !== 'readout', keepMembrane: true });
  c.dispose();
  const toRows = (t: tf.Tensor | undefined) => {
    if (!t) return currents.map((r) => r.map(() => 0));
    const flat = Array.from(t.dataSync());
    t.dispose();
    return currents.map((_, i) => flat.slice(i * n, (i + 1) * n));
  };
  const out = { spikes: toRows(seq.spikes), membrane: toRows(seq.membrane) };
  for (const t of stateTensors(seq.state)) t.dispose();
  return out;
}

/** Steps (0-based) at which a neuron spiked. */
export function spikeTimes(spikes: number[][], neuron = 0): number[] {
  return spikes.flatMap((row, t) => (row[neuron] === 1 ? [t] : []));
}

export function constant(steps: number, values: number[]): number[][] {
  return Array.from({ length: steps }, () => [...values]);
}

/** A gradient estimate as the estimators return it (the parts compared). */
interface Estimate {
  readonly gradients: ReadonlyMap<tf.Variable, tf.Tensor>;
  readonly loss: number;
}

/**
 * Two estimates of the same variables agree: the same variables, every entry within `relative` of
 * its variable's largest |entry| (which must not be ~0: a zero gradient would make it vacuous), and
 * the loss to six digits. `names` labels the variables in failures.
 */
export function expectSameEstimate(got: Estimate, want: Estimate, names: ReadonlyMap<tf.Variable, string>, relative: number): void {
  expect([...got.gradients.keys()].map((v) => names.get(v)).sort()).toEqual([...want.gradients.keys()].map((v) => names.get(v)).sort());
  for (const [v, g] of want.gradients) {
    const [exp, values] = [g.dataSync(), got.gradients.get(v)!.dataSync()];
    const scale = Math.max(...exp.map(Math.abs));
    expect(scale, `${names.get(v)}: a zero gradient would make the comparison vacuous`).toBeGreaterThan(1e-7);
    values.forEach((x, i) => expect(Math.abs(x - exp[i]!), `${names.get(v)}[${i}]`).toBeLessThanOrEqual(relative * scale));
  }
  expect(got.loss).toBeCloseTo(want.loss, 6);
}

/** Each variable of a network labelled `layer.parameter`. */
export function parameterNames(net: {
  readonly layers: readonly { readonly name: string; readonly params: Readonly<Record<string, tf.Variable>> }[];
}): Map<tf.Variable, string> {
  return new Map(net.layers.flatMap((l) => Object.entries(l.params).map(([p, v]) => [v, `${l.name}.${p}`] as const)));
}
