import { lif } from '../../neurons/lif.js';
import { readoutNeuron } from '../../neurons/readout.js';
import { synaptic } from '../../neurons/synaptic.js';
import { fail, perChannel, perNeuron, tidy, UNIT_TOLERANCE } from './read-graph.js';
import type { NirNode } from '../../neurons/nir.js';
export interface NeuronImport {
  /** The neuron record with scalar coefficients, and the per-neuron ones to learn. */
  readonly neuron: ReturnType<typeof lif> | ReturnType<typeof synaptic> | ReturnType<typeof readoutNeuron>;
  readonly learned: Record<string, Float64Array>;
  /** Per-neuron input scale (folded into the weights) and constant current (into the bias); undefined when 1 and 0. */
  readonly scale?: Float64Array;
  readonly offset?: Float64Array;
}

/**
 * The neuron of node `name`, for neurons of NIR shape `shape` (`channels` > 0 for a conv layer,
 * whose coefficients are per channel).
 */
export function importNeuron(name: string, node: NirNode, shape: readonly number[], dt: number, channels: number, notes: string[]): NeuronImport {
  const get = (f: string, fallback?: number) => perNeuron(name, node, f, shape, fallback);
  const decayOf = (f: string): Float64Array =>
    get(f).map((tau) => {
      if (!(tau > 0)) fail(`node '${name}' (${node.type}): ${f} = ${tau}; time constants are positive seconds`);
      if (tau < dt)
        fail(
          `node '${name}' (${node.type}): ${f} = ${tau} s is shorter than the step dt = ${dt} s, so β = 1 − dt/τ would be negative; import with a smaller dt (--dt)`,
        );
      return 1 - dt / tau;
    });
  const per = (x: Float64Array, f: string) => (channels > 0 ? perChannel(name, node, f, x, channels) : x);
  const uniform = (x: Float64Array) => x.every((v) => v === x[0]);
  const unit = (g: Float64Array) => g.every((v) => Math.abs(v - 1) <= UNIT_TOLERANCE);
  const learned: Record<string, Float64Array> = {};
  /** A coefficient as a scalar, or the per-neuron values to learn. */
  const coefficient = (key: string, x: Float64Array, f: string): number => {
    const v = per(x.map(tidy), f);
    if (uniform(v)) return v[0]!;
    learned[key] = v;
    return v[0]!;
  };
  let scale: Float64Array = new Float64Array(0),
    offset: Float64Array = new Float64Array(0);
  const finish = (neuron: NeuronImport['neuron']): NeuronImport => ({
    neuron,
    learned,
    ...(scale.length && !unit(scale) ? { scale: per(scale, 'r') } : {}),
    ...(offset.length && offset.some((v) => v !== 0) ? { offset: per(offset, 'v_leak') } : {}),
  });
  const zeroReset = () => {
    const reset = get('v_reset', 0);
    if (reset.some((v) => v !== 0))
      fail(`node '${name}' (${node.type}): v_reset ≠ 0 (${reset.find((v) => v !== 0)}); spikelr's neurons reset to zero or by subtraction`);
    const declared = node.metadata['reset'];
    if (declared === 'subtract') notes.push(`${name}: reset by subtraction, from the node's metadata (other tools reset it to zero)`);
    return declared === 'subtract' ? ('subtract' as const) : ('zero' as const);
  };
  const threshold = (): number => {
    const th = get('v_threshold');
    const bad = th.find((v) => !(v > 0));
    if (bad !== undefined) fail(`node '${name}' (${node.type}): v_threshold = ${bad}; spikelr's thresholds are positive`);
    return coefficient('threshold', th, 'v_threshold');
  };
  switch (node.type) {
    case 'LI':
    case 'I': {
      if (channels > 0) fail(`node '${name}' (${node.type}) follows a Conv2d; spikelr's readout is a dense layer`);
      const beta = node.type === 'I' ? get('r').fill(1) : decayOf('tau');
      if (!uniform(beta)) fail(`node '${name}' (${node.type}): tau varies across neurons; spikelr's readout has one decay`);
      const tau = node.type === 'LI' ? get('tau') : undefined;
      scale = tau ? get('r').map((r, i) => (r * dt) / tau[i]!) : get('r');
      if (tau) offset = get('v_leak').map((v, i) => (v * dt) / tau[i]!);
      return finish(readoutNeuron({ beta: tidy(beta[0]!) }));
    }
    case 'IF': {
      scale = get('r');
      const reset = zeroReset();
      return finish(lif({ beta: 1, threshold: threshold(), reset }));
    }
    case 'LIF': {
      const tau = get('tau');
      const beta = coefficient('beta', decayOf('tau'), 'tau');
      scale = get('r').map((r, i) => (r * dt) / tau[i]!);
      offset = get('v_leak').map((v, i) => (v * dt) / tau[i]!);
      const reset = zeroReset();
      return finish(lif({ beta, threshold: threshold(), reset }));
    }
    case 'CubaLIF': {
      const alpha = decayOf('tau_syn');
      if (!uniform(alpha)) fail(`node '${name}' (CubaLIF): tau_syn varies across neurons; spikelr's synaptic neurons share one synaptic decay`);
      if (get('v_leak').some((v) => v !== 0))
        fail(`node '${name}' (CubaLIF): v_leak ≠ 0; a constant leak target behind a synaptic filter has no spikelr equivalent`);
      const tauMem = get('tau_mem'),
        tauSyn = get('tau_syn'),
        wIn = get('w_in', 1);
      const beta = coefficient('beta', decayOf('tau_mem'), 'tau_mem');
      // I' = α I + (w_in dt/τ_syn) S and v' = β v + (R dt/τ_mem) I': scaling I by R dt/τ_mem moves both factors onto S
      scale = get('r').map((r, i) => ((r * dt) / tauMem[i]!) * ((wIn[i]! * dt) / tauSyn[i]!));
      const reset = zeroReset();
      return finish(synaptic({ alpha: tidy(alpha[0]!), beta, threshold: threshold(), reset }));
    }
  }
  return fail(`node '${name}' has type '${node.type}', which is not a neuron`);
}
