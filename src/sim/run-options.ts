/** What a run of a network takes (RunOptions: recordings, escape noise, seed) and returns, checked at the boundary. */
import type * as tf from '@tensorflow/tfjs';
import { check, checkInteger, checkKeys, show } from '../core/errors.js';
import type { EscapeNoise } from '../neurons/noise.js';
import { modelOf } from '../neurons/registry.js';
import type { Layer } from './layer.js';

/** A recorded state field: 'spikes', 'membrane', or one of the model's own ('synaptic', 'threshold', …). */
export type Field = string;

export interface RunOptions {
  /**
   * Layers to monitor: names (all fields), or name → fields. Recorded tensors are `[B, T, …N]`
   * and owned by the result. A run that records nothing keeps no per-step history.
   */
  readonly record?: readonly string[] | Readonly<Record<string, readonly Field[]>>;
  /** Escape noise for every spiking layer, or per layer name; absent: deterministic firing. */
  readonly noise?: EscapeNoise | Readonly<Record<string, EscapeNoise>>;
  /** Seed of the escape noise; default: derived from the network seed and a run counter. */
  readonly seed?: number;
  /**
   * Every step of the input is the same (a direct-encoded image): the currents of the first layer
   * with neurons are computed once for all steps. A promise about the input, not checked.
   */
  readonly constantInput?: boolean;
}

/** Recorded fields of one layer, each `[B, T, …N]`. */
export interface Recording {
  readonly spikes?: tf.Tensor;
  readonly membrane?: tf.Tensor;
  readonly [field: string]: tf.Tensor | undefined;
}

export interface RunResult {
  /** Spikes of the last layer, or the membrane of a readout: `[B, T, …output]`. */
  readonly output: tf.Tensor;
  readonly records: Readonly<Record<string, Recording>>;
  /** The noise seed used (replay the run with it). */
  readonly seed: number;
  dispose(): void;
}

/** Whether `x` is one escape noise (not a map of them by layer). */
export function isNoise(x: unknown): x is EscapeNoise {
  return typeof x === 'object' && x !== null && 'kind' in x && 'sigma' in x;
}

/** The escape noise `noise` gives `layer` (none for a readout or a layer without neurons). */
export function noiseFor(noise: RunOptions['noise'], layer: Layer): EscapeNoise | undefined {
  if (noise === undefined) return undefined;
  if (isNoise(noise)) return layer.neuron && modelOf(layer.neuron).role !== 'readout' ? noise : undefined;
  return (noise as Record<string, EscapeNoise>)[layer.name];
}

/**
 * Checks a run's options against the network (`layerOf` finds a layer by name, or throws) and
 * returns the fields to record per layer.
 */
export function checkRunOptions(
  where: string,
  layerOf: (name: string) => Layer,
  options: RunOptions,
  allowed: readonly string[] = ['record', 'noise', 'seed', 'constantInput'],
): Map<string, Set<Field>> {
  check(
    typeof options === 'object' && options !== null && !Array.isArray(options),
    () => `${where}: options must be an object such as { record: ['hidden'], noise, seed }, got ${show(options)}`,
  );
  checkKeys(`${where}: options`, options, allowed);
  if (options.constantInput !== undefined)
    check(typeof options.constantInput === 'boolean', () => `${where}: constantInput must be true or false, got ${show(options.constantInput)}`);
  const fields = new Map<string, Set<Field>>();
  const rec = options.record ?? [];
  const entries: [string, readonly Field[] | undefined][] = Array.isArray(rec)
    ? (rec as string[]).map((n) => [n, undefined])
    : Object.entries(rec as Record<string, Field[]>);
  for (const [name, fs] of entries) {
    const layer = layerOf(name);
    check(layer.neuron !== undefined, () => `${where}: layer '${name}' (${layer.spec.kind}) has no neurons to record`);
    const model = modelOf(layer.neuron);
    const readout = model.role === 'readout';
    const known = [...(readout ? [] : ['spikes']), 'membrane', ...model.fields(layer.neuron as never)];
    for (const f of fs ?? []) {
      check(
        known.includes(f) || (readout && f === 'spikes'),
        () => `${where}: unknown record field ${show(f)} for layer '${name}' (${layer.neuron!.kind}); expected one of ${known.map((k) => `'${k}'`).join(', ')}`,
      );
    }
    fields.set(name, new Set((fs ?? ['spikes', 'membrane']).filter((f) => known.includes(f))));
  }
  if (options.noise !== undefined && !isNoise(options.noise)) {
    for (const [name, n] of Object.entries(options.noise)) {
      const layer = layerOf(name);
      check(layer.neuron !== undefined && modelOf(layer.neuron).role !== 'readout', () => `${where}: noise given for layer '${name}', which does not spike`);
      check(isNoise(n), () => `${where}: noise for '${name}' must be escapeNoise(kind, sigma), got ${show(n)}`);
    }
  }
  if (options.seed !== undefined) checkInteger(where, 'seed', options.seed, 0);
  return fields;
}
