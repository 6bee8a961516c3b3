/**
 * A network: an input shape and a sequence of layers, with their parameters. It owns its
 * parameters; every run owns its own state, so two networks (or two runs) never share neurons.
 *
 * Inputs are `[B, T, …input]` (batch, steps, per-step shape); outputs `[B, T, …output]`.
 */
import * as tf from '@tensorflow/tfjs';
import { check, checkInteger, show, SpikelrError } from '../core/errors.js';
import { heaviside } from '../neurons/firing.js';
import { stateTensors, type Fire, type NeuronState } from '../neurons/model.js';
import { modelOf } from '../neurons/registry.js';
import { buildLayer, layerName, type Layer, type LayerSpec } from './layer.js';
import { outputField, passLayers, population, release, runFields, stepPopulation, swapBatchTime } from './loop.js';
import { freshSeed, streamKey } from '../core/random.js';
import { checkRunOptions, noiseFor, type Field, type RunOptions, type RunResult, type Recording } from './run-options.js';
import { fromTorch, TORCH_AXES, torchShape, type ParameterLayout } from './layout.js';

export type { ParameterLayout } from './layout.js';
export type { Field, Recording, RunOptions, RunResult } from './run-options.js';

export interface NetworkSpec {
  /** Per-sample, per-step input shape: `[784]` for flat MNIST, `[28, 28, 1]` for a CNN. */
  readonly input: readonly number[];
  readonly layers: readonly LayerSpec[];
  /** Seed of the parameter initialisation (and of noise when a run gives none). */
  readonly seed?: number;
}

let networkCount = 0;

/** Frees a layer's parameters and constants. */
function disposeLayer(layer: Layer): void {
  layer.decorrelation?.dispose();
  for (const v of [...Object.values(layer.params), ...Object.values(layer.constants ?? {})]) v.dispose();
}

export class Network {
  readonly inputShape: readonly number[];
  readonly layers: readonly Layer[];
  readonly seed: number;
  private runs = 0;
  private disposed = false;

  constructor(spec: NetworkSpec) {
    check(
      Array.isArray(spec.input) && spec.input.length > 0 && spec.input.every((d) => Number.isInteger(d) && d > 0),
      () => `network: input must be a non-empty array of positive integers (per-step shape), got ${show(spec.input)}`,
    );
    check(Array.isArray(spec.layers) && spec.layers.length > 0, () => 'network: layers must be a non-empty array of layer specs');
    const seed = spec.seed ?? freshSeed();
    checkInteger('network', 'seed', seed, 0);
    this.seed = seed;
    this.inputShape = [...spec.input];
    const uid = `net${networkCount++}`;
    const layers: Layer[] = [];
    let shape = this.inputShape;
    const names = new Set<string>();
    spec.layers.forEach((layerSpec, i) => {
      const name = layerName(layerSpec, i);
      check(!names.has(name), () => `network: two layers are named '${name}'; layer names must be unique`);
      names.add(name);
    });
    try {
      spec.layers.forEach((layerSpec, i) => {
        const layer = buildLayer(layerSpec, shape, i, seed, uid);
        layers.push(layer);
        shape = layer.outputShape;
      });
    } catch (err) {
      layers.forEach(disposeLayer);
      throw err;
    }
    this.layers = layers;
    const last = layers[layers.length - 1]!;
    if (last.localHead) {
      layers.forEach(disposeLayer);
      throw new SpikelrError(
        `network: the last layer '${last.name}' has a local head; the network's own loss trains the last block, so put heads on the layers that end the blocks before it`,
      );
    }
  }

  get outputShape(): readonly number[] {
    return this.layers[this.layers.length - 1]!.outputShape;
  }

  /** The layer called `name`; an error lists the names there are. */
  layer(name: string): Layer {
    const layer = this.layers.find((l) => l.name === name);
    if (!layer) throw new SpikelrError(`network: no layer named '${name}'; layers are ${this.layers.map((l) => `'${l.name}'`).join(', ')}`);
    return layer;
  }

  /** Number of trainable scalars (a decorrelation's R and input mean are buffers, not counted). */
  get parameterCount(): number {
    return this.layers.reduce((n, l) => n + Object.entries(l.params).reduce((m, [name, v]) => m + (l.buffers?.includes(name) ? 0 : v.size), 0), 0);
  }

  /**
   * Replaces a parameter's values: a tensor of its shape, or a flat array of its size. A matrix or
   * kernel given flat must say its layout (`{ layout: 'spikelr' }`, or `'torch'` for PyTorch's
   * [out, in] / [out, in, kh, kw], transposed here); a tensor may come in PyTorch's shape with `'torch'`.
   */
  setParameter(
    layerName: string,
    param: string,
    values: tf.Tensor | Float32Array | readonly number[],
    options: { readonly layout?: ParameterLayout } = {},
  ): void {
    const layer = this.layer(layerName);
    const v = layer.params[param];
    if (!v) throw new SpikelrError(`network: layer '${layerName}' has no parameter '${param}'; it has ${Object.keys(layer.params).join(', ') || 'none'}`);
    const where = `network: ${layerName}.${param}`;
    const layout = options.layout;
    check(layout === undefined || layout === 'spikelr' || layout === 'torch', () => `${where}: layout must be 'spikelr' or 'torch', got ${show(layout)}`);
    // the shape the values come in: spikelr's own, or PyTorch's ([out, in]; a conv's [out, in, kh, kw])
    const torch = layout === 'torch' && v.rank >= 2;
    check(
      !torch || TORCH_AXES[v.rank] !== undefined,
      () => `${where} is ${show(v.shape)}: PyTorch's layout is defined here for matrices and conv kernels only; pass it in spikelr's layout`,
    );
    const given = torch ? torchShape(v.shape) : v.shape;
    if (values instanceof tf.Tensor) {
      check(
        values.shape.join() === given.join(),
        () => `${where} must have shape ${show(given)}${torch ? " (PyTorch's layout)" : ''}, got ${show(values.shape)}`,
      );
    } else {
      check(values.length === v.size, () => `${where} must have shape ${show(v.shape)} (${v.size} values), got ${show([values.length])}`);
      // a flat array fills a matrix or kernel in either layout without complaint: the layout must be said
      check(
        v.rank < 2 || layout !== undefined,
        () =>
          `${where} is ${show(v.shape)}: a flat array of ${v.size} values could be laid out as spikelr's ${show(v.shape)} or as PyTorch's ${show(torchShape(v.shape))}; pass a tensor, or say which with { layout: 'spikelr' } or { layout: 'torch' }`,
      );
    }
    tf.tidy(() => {
      let t = values instanceof tf.Tensor ? values : tf.tensor(values as Float32Array, given, 'float32');
      if (torch) t = tf.transpose(t, fromTorch(v.rank));
      v.assign(t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
    });
  }

  private checkAlive(): void {
    check(!this.disposed, () => 'network: used after dispose()');
  }

  /** Validates `[B, T, …input]` and returns B and T. */
  private checkInput(where: string, input: tf.Tensor): { batch: number; steps: number } {
    const expected = `[B, T, ${this.inputShape.join(', ')}]`;
    check(
      input.rank === this.inputShape.length + 2 && this.inputShape.every((d, i) => input.shape[i + 2] === d),
      () => `${where}: input must have shape ${expected} (batch, steps, …per-step input), got ${show(input.shape)}`,
    );
    check(input.shape[0]! > 0 && input.shape[1]! > 0, () => `${where}: input has an empty batch or no steps: ${show(input.shape)}`);
    return { batch: input.shape[0]!, steps: input.shape[1]! };
  }

  private fireFor(layer: Layer, index: number, noise: RunOptions['noise'], seed: number): Fire {
    const n = noiseFor(noise, layer);
    // a stateless layer (pool, flatten) never fires; heaviside only fills its slot
    return layer.neuron ? modelOf(layer.neuron).fire(layer.neuron as never, n, streamKey(seed, index), layer.coefficients['noiseScale']) : heaviside;
  }

  /**
   * Simulates all T steps of `input` (`[B, T, …input]`, not consumed) in multi-step mode: each
   * layer's feed-forward currents for every step in one op, then its neurons step through time.
   */
  run(input: tf.Tensor, options: RunOptions = {}): RunResult {
    this.checkAlive();
    const { batch } = this.checkInput('network.run', input);
    const fields = checkRunOptions('network.run', (name) => this.layer(name), options);
    const seed = options.seed ?? streamKey(this.seed, 0x5eed, this.runs++);
    const records: Record<string, Recording> = {};
    const toBatchMajor = (t: tf.Tensor) => tf.tidy(() => swapBatchTime(t));
    const { output: sequence } = passLayers(
      this.layers,
      this.inputShape,
      input,
      ({ layer, index, drives }) => {
        const neuron = layer.neuron!;
        const want = fields.get(layer.name) ?? new Set<Field>();
        const out = outputField(neuron);
        const initial = modelOf(neuron).initialState(neuron as never, [batch, ...layer.outputShape]);
        const seq = runFields(population(layer), drives(), initial, this.fireFor(layer, index, options.noise, seed), [...new Set([out, ...want])]);
        for (const t of stateTensors(seq.state)) t.dispose();
        if (want.size > 0) records[layer.name] = Object.fromEntries([...want].map((f) => [f, toBatchMajor(seq.fields[f]!)])) as Recording;
        for (const [f, t] of Object.entries(seq.fields)) if (f !== out) t.dispose();
        return { output: seq.fields[out]! };
      },
      { constantInput: options.constantInput === true },
    );
    const output = toBatchMajor(sequence);
    sequence.dispose();
    return {
      output,
      records,
      seed,
      dispose() {
        output.dispose();
        for (const r of Object.values(records)) for (const t of Object.values(r)) t?.dispose();
      },
    };
  }

  /** A single-step simulation of `batch` samples, for interactive use; it owns its state. */
  simulation(batch: number, options: Omit<RunOptions, 'record'> = {}): Simulation {
    this.checkAlive();
    checkInteger('network.simulation', 'batch', batch, 1);
    checkRunOptions('network.simulation', (name) => this.layer(name), options, ['noise', 'seed']);
    const seed = options.seed ?? streamKey(this.seed, 0x5eed, this.runs++);
    return new Simulation(
      this,
      batch,
      seed,
      this.layers.map((l, i) => this.fireFor(l, i, options.noise, seed)),
    );
  }

  /**
   * Projects learned neuron coefficients back into their valid ranges after an update:
   * decay into [0, 1], threshold to at least `minThreshold`.
   */
  constrain(minThreshold = 1e-3): void {
    for (const l of this.layers) {
      if (!l.neuron) continue;
      const bounds = modelOf(l.neuron).bounds?.(l.neuron as never, minThreshold) ?? {};
      for (const [name, [lo, hi]] of Object.entries(bounds)) {
        const v = l.coefficients[name];
        if (v) tf.tidy(() => v.assign(tf.clipByValue(v, lo, hi)));
      }
    }
  }

  /** Frees the parameters. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.layers.forEach(disposeLayer);
  }
}

/**
 * Steps a network one time step at a time. The same dynamics and noise streams as
 * {@link Network.run}: stepping T times gives the run's output step by step.
 */
export class Simulation {
  private states: (NeuronState | undefined)[];
  private t = 0;

  constructor(
    readonly network: Network,
    readonly batch: number,
    readonly seed: number,
    private readonly fires: readonly Fire[],
  ) {
    this.states = this.initialStates();
  }

  private initialStates(): (NeuronState | undefined)[] {
    return this.network.layers.map((l) => (l.neuron ? modelOf(l.neuron).initialState(l.neuron as never, [this.batch, ...l.outputShape]) : undefined));
  }

  /** Steps taken so far. */
  get time(): number {
    return this.t;
  }

  /** Advances one step with input `[B, …input]`; returns the output layer's `[B, …output]` (caller owns it). */
  step(input: tf.Tensor): tf.Tensor {
    const shape = [this.batch, ...this.network.inputShape];
    check(input.shape.join() === shape.join(), () => `simulation.step: input must have shape ${show(shape)}, got ${show(input.shape)}`);
    let x = input;
    this.network.layers.forEach((layer, i) => {
      const drive = layer.currents(x);
      if (x !== input) x.dispose();
      const old = this.states[i];
      if (!layer.neuron || !old) {
        x = drive;
        return;
      }
      const { input: current, next } = stepPopulation(population(layer), drive, old, this.fires[i]!, this.t);
      if (current !== drive) current.dispose();
      drive.dispose();
      release(old, next);
      this.states[i] = next;
      x = next[outputField(layer.neuron)]!.clone();
    });
    this.t++;
    return x;
  }

  /** The current state of a layer's neurons (valid until the next step; do not dispose). */
  state(layerName: string): NeuronState {
    const i = this.network.layers.findIndex((l) => l.name === layerName);
    const s = this.states[i];
    if (!s) throw new SpikelrError(`simulation: no spiking or readout layer named '${layerName}'`);
    return s;
  }

  /** Back to rest, time 0. */
  reset(): void {
    this.dispose();
    this.states = this.initialStates();
    this.t = 0;
  }

  dispose(): void {
    for (const s of this.states) if (s) for (const t of stateTensors(s)) t.dispose();
    this.states = this.states.map(() => undefined);
  }
}

/** Builds a network from a spec. */
export function network(spec: NetworkSpec): Network {
  return new Network(spec);
}
