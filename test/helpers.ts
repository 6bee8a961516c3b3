import * as tf from '@tensorflow/tfjs';
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
