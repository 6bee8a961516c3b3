/**
 * A spikelr network as a NIR graph. Each layer becomes a weight node and a neuron node
 * (`<layer>.weight` → `<layer>.neurons`), a recurrent layer adds `<layer>.recurrent` in a cycle
 * with its neurons (as snnTorch writes RSynaptic), stateless layers keep their name.
 *
 * Time: NIR's neurons are ODEs; spikelr steps them by forward Euler with step dt, as snnTorch and
 * Norse read them:
 *
 *     LIF       τ v̇ = (v_leak − v) + R I    →  v_t = β v_{t−1} + (1 − β) v_leak + (R dt/τ) I_t,   β = 1 − dt/τ
 *     CubaLIF   τ_syn İ = −I + w_in S        →  I_t = α I_{t−1} + (w_in dt/τ_syn) S_t,              α = 1 − dt/τ_syn
 *     LI        as LIF without threshold
 *     IF, I     v̇ = R I                      →  v_t = v_{t−1} + R I_t  (no time constant: one step is one unit, as sinabs and snnTorch read them)
 *
 * so a layer of decay β exports τ = dt/(1 − β), R = τ/dt (the input enters unscaled), v_leak = 0,
 * and with reset 'zero' (NIR's reset to v_reset = 0 in the step of the spike) its spikes are the
 * same as spikelr's. Each neuron model and layer kind writes itself (`nir` in its plug-in file);
 * one without is refused by name, as is anything else NIR cannot say (see {@link NirExportOptions}).
 */
import { SpikelrError } from '../../core/errors.js';
import { modelOf } from '../../neurons/registry.js';
import { layerKindOf, type Layer } from '../../sim/layer.js';
import type { Network } from '../../sim/network.js';
import { floats, ints, nirNode, type NirNeuronContext, type NirNode } from '../../neurons/nir.js';
import { nirShape } from '../../sim/layers/nir.js';
import type { NirLayerContext } from '../../sim/layers/nir-types.js';

export interface NirExportOptions {
  /** The time step dt in seconds that NIR's time constants are expressed in (default 1e-4, snnTorch's). */
  readonly dt?: number;
  /**
   * Export a network that fires with escape noise (a learned noise scale, or a run trained by LR)
   * as its deterministic counterpart, threshold firing: NIR has no stochastic neurons.
   */
  readonly deterministic?: boolean;
  /** The network's (or run's) escape noise, to refuse by name unless `deterministic`. */
  readonly noise?: string;
  /**
   * Reset by subtraction has no NIR primitive (NIR's neurons reset to v_reset). 'error' (default)
   * refuses it; 'metadata' writes NIR's LIF (other tools will reset to zero) with `reset =
   * "subtract"` in the node's metadata, which spikelr's import reads back.
   */
  readonly subtractReset?: 'error' | 'metadata';
}

export const DEFAULT_DT = 1e-4;

function refuser(layer: Layer): (why: string) => never {
  return (why) => {
    throw new SpikelrError(`NIR export: layer '${layer.name}' (${layer.spec.kind}${layer.neuron ? `, ${layer.neuron.kind} neurons` : ''}): ${why}`);
  };
}

/** The NIR graph of `net`. */
export function networkToNir(net: Network, o: NirExportOptions = {}): NirNode {
  const dt = o.dt ?? DEFAULT_DT;
  if (!(dt > 0 && Number.isFinite(dt))) throw new SpikelrError(`NIR export: dt must be a positive number of seconds, got ${dt}`);
  if (net.inputShape.length !== 1 && net.inputShape.length !== 3) {
    throw new SpikelrError(
      `NIR export: the network's input is ${net.inputShape.length}-D per step ([${net.inputShape.join(', ')}]); NIR export handles vectors and [H, W, C] images`,
    );
  }
  const stochastic = net.layers.find((l) => l.coefficients['noiseScale']);
  if (!o.deterministic && (o.noise || stochastic)) {
    const what = stochastic ? `layer '${stochastic.name}' learns a per-neuron escape-noise scale` : `the network fires with escape noise (${o.noise})`;
    throw new SpikelrError(
      `NIR export: ${what}, which NIR cannot express (its neurons fire deterministically at threshold); pass --deterministic (deterministic: true) to export the deterministic network, the one \`spikelr eval\` scores without --eval-noise`,
    );
  }
  const nodes: Record<string, NirNode> = { input: nirNode('Input', { shape: ints(nirShape(net.inputShape)) }) };
  const edges: [string, string][] = [];
  let last = 'input';
  let order: Int32Array | undefined;
  const add = (name: string, node: NirNode) => {
    if (name in nodes) throw new SpikelrError(`NIR export: two nodes would be named '${name}'; rename the layer`);
    nodes[name] = node;
  };
  for (const layer of net.layers) {
    const refuse = refuser(layer);
    const toNir = layerKindOf(layer).nir ?? (() => refuse(`NIR has no primitive for a '${layer.spec.kind}' layer`));
    const shape = nirShape(layer.outputShape);
    const neuron: NirNeuronContext = {
      shape,
      dt,
      subtractReset: o.subtractReset ?? 'error',
      refuse,
      perNeuron(name, scalar) {
        const n = shape.reduce((a, b) => a * b, 1);
        const v = layer.coefficients[name];
        if (!v) return new Float64Array(n).fill(scalar);
        // one value per neuron, or (a conv layer's) per channel, spread over NIR's [C, H, W]
        const per = v.dataSync();
        return Float64Array.from({ length: n }, (_, i) => per[Math.floor(i / (n / per.length))]!);
      },
    };
    const c: NirLayerContext = {
      dt,
      inputOrder: order,
      refuse,
      neurons() {
        const nir = layer.neuron ? modelOf(layer.neuron).nir : undefined;
        if (!nir) return refuse(`NIR has no primitive for '${layer.neuron?.kind}' neurons (it has LIF, CubaLIF, IF, LI and I)`);
        return nir(layer.neuron as never, neuron);
      },
    };
    const out = toNir(layer, c);
    for (const [suffix, node] of out.chain) {
      const name = suffix ? `${layer.name}.${suffix}` : layer.name;
      add(name, node);
      edges.push([last, name]);
      last = name;
    }
    if (out.loop) {
      const name = `${layer.name}.${out.loop[0]}`;
      add(name, out.loop[1]);
      edges.push([last, name], [name, last]);
    }
    order = out.outputOrder;
  }
  nodes['output'] = nirNode('Output', { shape: ints(nirShape(net.outputShape)) });
  edges.push([last, 'output']);
  return { type: 'NIRGraph', fields: {}, metadata: { generator: 'spikelr', dt: floats([], [dt], 'float64') }, nodes, edges };
}
