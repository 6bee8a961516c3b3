/** What a {@link TrainConfig} builds: the datasets, the network, the estimator and the loss. */
import { imageSequences, storedSequences, subset, type Dataset } from '../data/dataset.js';
import { loadIdxImages, loadMnist } from '../data/mnist.js';
import { loadNmnist, NMNIST_SIZE } from '../data/nmnist.js';
import { randmanTask } from '../data/randman.js';
import { loadShd } from '../data/shd.js';
import { countCrossEntropy, countSquaredError, membraneCrossEntropy, membraneSquaredError, zeroOneLoss, type RowLoss } from '../learning/losses.js';
import { methodOf } from '../learning/estimators/registry.js';
import type { Estimator } from '../learning/estimators/types.js';
import { shardedEstimator, type ShardParts } from '../learning/parallel.js';
import { pipelinedLR } from '../learning/pipeline.js';
import { setProductThreads } from '../kernels/product-threads.js';
import { lrConfigOf, noisePerLayer, validate } from '../learning/estimators/lr.js';
import { rateRegularizer, regularized, sparsityRegularizer } from '../learning/regularizers.js';
import type { EscapeNoise } from '../neurons/noise.js';
import { equationNeuron, lif, NEURON_PRESETS, type UnitParams } from '../neurons/params.js';
import { existsSync, readFileSync } from 'node:fs';
import { check, SpikelrError } from '../core/errors.js';
import { deserializeModel } from '../io/network-file.js';
import { layerRateOf, modelFileOf } from '../learning/trainer.js';
import { conv2d, dense, flatten, maxPool2d, readout, recurrent, withLocalHead, type LayerSpec } from '../sim/layer.js';
import { Network } from '../sim/network.js';
import { deploySpecs } from '../sim/deploy.js';
import { permutation, streamKey } from '../core/random.js';
import { convStages, decorrelatedLayers, localHeadLayers, type ConvStage, type TrainConfig } from './config.js';

export interface Splits {
  readonly train: Dataset;
  readonly test: Dataset;
}

const limited = (d: Dataset, limit: number | null) =>
  limit !== null && limit < d.count
    ? subset(
        d,
        Int32Array.from({ length: limit }, (_, i) => i),
      )
    : d;

/** Whether the network reads images whole (conv layers, or a model file whose input is an image). */
const imageInput = (c: TrainConfig) => c.conv !== null || modelInputShape(c)?.length === 3;

/** The training and test sets the config names. */
export async function loadSplits(c: TrainConfig): Promise<Splits> {
  return { train: await loadSplit(c, 'train'), test: await loadSplit(c, 'test') };
}

/** One split of the dataset the config names (only that split's files are read). */
export async function loadSplit(c: TrainConfig, split: 'train' | 'test'): Promise<Dataset> {
  const limit = split === 'train' ? c.trainLimit : c.testLimit;
  switch (c.dataset) {
    case 'mnist':
    case 'idx': {
      const options = { ...(c.dataDir !== null ? { dir: c.dataDir } : {}), ...(limit !== null ? { limit } : {}) };
      const images = c.dataset === 'mnist' ? await loadMnist(split, options) : await loadIdxImages(split, options);
      // conv layers read images whole, [rows, cols, 1]; dense layers their pixels in a row
      return imageSequences(images, { steps: c.steps, encoding: c.encoding, ...(imageInput(c) ? { inputShape: [images.rows, images.cols, 1] } : {}) });
    }
    case 'nmnist': {
      const d = await loadNmnist(c.dataDir!, split, { steps: c.steps, ...(limit !== null ? { limit } : {}) });
      return storedSequences(d.frames, d.labels, {
        steps: c.steps,
        inputShape: imageInput(c) ? [NMNIST_SIZE, NMNIST_SIZE, 2] : [NMNIST_SIZE * NMNIST_SIZE * 2],
        classes: 10,
      });
    }
    case 'shd':
      return limited(await loadShd(c.dataDir!, split, { steps: c.steps }), limit);
    case 'randman': {
      // Zenke and Vogels' task: 10 classes of 1000 samples on 1-D manifolds in 100 input units; 80/20 split
      const task = randmanTask({ classes: 10, units: 100, steps: c.steps, samples: 1000, manifold: 1, seed: c.seed });
      const all = storedSequences(task.spikes, task.labels, { steps: task.steps, inputShape: [task.units], classes: 10 });
      const order = permutation(task.count, streamKey(c.seed, 0x5917));
      const cut = Math.round(task.count * 0.8);
      return limited(subset(all, split === 'train' ? order.slice(0, cut) : order.slice(cut)), limit);
    }
  }
}

/** A spiking neuron of `kind` (a preset of the neuron registry) with decay β, threshold ϑ and reset mode. */
export function spikingNeuron(
  kind: TrainConfig['neuron'],
  c: { readonly beta: number; readonly threshold: number; readonly reset: TrainConfig['reset'] },
): UnitParams {
  const preset = NEURON_PRESETS[kind];
  check(preset !== undefined, () => `neuron: unknown neuron '${kind}'; expected one of ${Object.keys(NEURON_PRESETS).join(', ')}, or --neuron-equations`);
  return preset({ beta: c.beta, threshold: c.threshold, reset: c.reset }) as UnitParams;
}

/** The hidden neurons: the configured equations, else the named model. */
export function hiddenNeuron(c: TrainConfig): UnitParams {
  if (c.neuronEquations !== null) {
    check(
      typeof c.neuronEquations === 'object',
      () => `config: neuronEquations must be resolved to the equations before building (got the path '${String(c.neuronEquations)}')`,
    );
    return equationNeuron(c.neuronEquations);
  }
  return spikingNeuron(c.neuron, c);
}

/**
 * The network: hidden spiking layers, then a leaky readout (membrane losses) or spiking output
 * (count losses and the 0-1 loss, whose readout must be noisy for LR to reach it).
 */
export function buildNetwork(c: TrainConfig, inputShape: readonly number[], classes: number): Network {
  if (c.network !== null) return networkOf(c, c.network, inputShape, classes);
  const decorrelate = { kappa: c.decorrelationKappa, learningRate: c.decorrelationRate, centre: c.decorrelationCentre };
  const stages = c.conv === null ? [] : (convStages(c.conv) as ConvStage[]);
  const convs = stages.filter((st) => st.kind === 'conv').length;
  const firstConv = stages.findIndex((st) => st.kind === 'conv');
  const chosen = decorrelatedLayers(c);
  // `first`: the layer that reads the data, which 'deep' leaves as it is (and the readout)
  const where = (hidden: boolean, first = false) =>
    chosen === 'all' || chosen === (hidden ? 'hidden' : 'readout') || (chosen === 'deep' && hidden && !first) ? { decorrelate } : {};
  let n = 0,
    p = 0;
  const front: LayerSpec[] = stages.map((st, k) =>
    st.kind === 'conv'
      ? conv2d({
          name: `conv${convs > 1 ? ++n : ''}`,
          filters: st.filters,
          kernelSize: st.kernel,
          stride: st.stride,
          padding: 'valid',
          neuron: hiddenNeuron(c),
          ...where(true, k === firstConv),
        })
      : maxPool2d({ name: `pool${++p}`, poolSize: st.size }),
  );
  if (front.length) front.push(flatten({ name: 'flatten' }));
  const hidden: LayerSpec[] = c.hidden.map((units, i) =>
    (c.recurrent ? recurrent : dense)({
      name: `hidden${c.hidden.length > 1 ? i + 1 : ''}`,
      units,
      neuron: hiddenNeuron(c),
      ...where(true, convs === 0 && i === 0),
    }),
  );
  const spikingOutput = c.loss === 'ce-count' || c.loss === 'mse-count' || c.loss === 'zero-one';
  const out = spikingOutput
    ? dense({ name: 'out', units: classes, neuron: lif({ beta: c.readoutBeta, threshold: c.threshold }), ...where(false) })
    : readout({ name: 'out', units: classes, beta: c.readoutBeta, ...where(false) });
  // local losses: the chosen layers with neurons end a block with their own head
  const heads = localHeadLayers(c);
  const blocks: LayerSpec[] = [...front, ...hidden].filter((l) => 'neuron' in l && l.neuron !== undefined).filter((_, i) => heads.includes(i));
  const headed = (l: LayerSpec) => (blocks.includes(l) ? withLocalHead(l, classes) : l);
  const layers = [...front.map(headed), ...hidden.map(headed), out];
  return new Network({ input: [...inputShape], layers: c.deploy ? deploySpecs(layers, c.deploy) : layers, seed: c.seed });
}

/**
 * The layer names of the per-layer keys (layerNoise, layerCopies, layerRates) checked against the
 * network built: a name it lacks, or noise on a layer that has none, is an error before any run
 * directory is touched.
 */
export function checkLayerNames(c: TrainConfig, net: Network): void {
  // the checks training and the estimator make themselves, made now
  if (c.layerRates !== null) layerRateOf(net, c.layerRates);
  if (c.method !== 'lr' || (c.layerNoise === null && c.layerCopies === null)) return;
  const noise = noisePerLayer(net, validate(lrConfigOf(c)));
  const names = net.layers.map((l) => l.name);
  for (const name of Object.keys(c.layerCopies ?? {})) {
    check(names.includes(name), () => `config: layerCopies names '${name}', which is not a layer of this network; its layers: ${names.join(', ')}`);
    check(noise[names.indexOf(name)] !== undefined, () => `config: layerCopies names '${name}', which has no escape noise (the readout is deterministic)`);
  }
}

/** The layers of a model file or run directory (a spikelr model: its spec), read once per path. */
const modelSpecs = new Map<string, { readonly input: readonly number[]; readonly layers: readonly LayerSpec[] }>();
function specOf(target: string): { readonly input: readonly number[]; readonly layers: readonly LayerSpec[] } {
  const file = modelFileOf(target);
  let spec = modelSpecs.get(file);
  if (!spec) {
    check(existsSync(file), () => `network: ${file}: no such model file (give a .safetensors model or the directory of a run or an import)`);
    const net = deserializeModel(readFileSync(file), file).net;
    spec = { input: [...net.inputShape], layers: net.layers.map((l) => l.spec as LayerSpec) };
    net.dispose();
    modelSpecs.set(file, spec);
  }
  return spec;
}

/** The per-step input shape of the configured network's model file, or undefined when the network is built from the config. */
export function modelInputShape(c: TrainConfig): readonly number[] | undefined {
  return c.network === null ? undefined : specOf(c.network).input;
}

/** The network of the model file `target`, checked against the data, deployed as configured. */
function networkOf(c: TrainConfig, target: string, inputShape: readonly number[], classes: number): Network {
  const spec = specOf(target);
  check(
    spec.input.join() === inputShape.join(),
    () => `network: ${target} takes ${spec.input.join('x')} inputs per step; ${c.dataset} gives ${inputShape.join('x')} (check --dataset and --encoding)`,
  );
  const net = new Network({ input: [...spec.input], layers: c.deploy ? deploySpecs(spec.layers, c.deploy) : [...spec.layers], seed: c.seed });
  const out = net.outputShape.reduce((a, b) => a * b, 1);
  if (out !== classes) {
    net.dispose();
    throw new SpikelrError(`network: ${target} has ${out} outputs; ${c.dataset} has ${classes} classes`);
  }
  return net;
}

/**
 * The escape noise of the stochastic network the run trains, by layer name: the config's noise, a
 * recurrent layer's σ scaled by recurrentNoiseScale, layerNoise's overrides — what LR's copies fire
 * with, so that `--eval-noise` and a noisy raster show that network and not one with every σ alike.
 */
export function noiseOf(c: TrainConfig, net: Network): Readonly<Record<string, EscapeNoise>> {
  const each = noisePerLayer(net, validate(lrConfigOf(c)));
  return Object.fromEntries(net.layers.flatMap((l, i) => (each[i] ? [[l.name, each[i]] as const] : [])));
}

/** The estimator of the config's method (or of `method`), from the registry. */
export function estimatorOf(c: TrainConfig, method: TrainConfig['method'] = c.method): Estimator {
  return methodOf(method).estimator({ ...c, method });
}

export function lossOf(c: TrainConfig): RowLoss {
  const task = taskLoss(c);
  if (c.regularizer === 'none') return task;
  const reg =
    c.regularizer === 'rate' ? rateRegularizer({ weight: c.regularizerWeight, target: c.rateTarget }) : sparsityRegularizer({ weight: c.regularizerWeight });
  return regularized(task, [reg]);
}

function taskLoss(c: TrainConfig): RowLoss {
  switch (c.loss) {
    case 'ce-membrane':
      return membraneCrossEntropy(c.reduction);
    case 'mse-membrane':
      return membraneSquaredError(c.reduction);
    case 'ce-count':
      return countCrossEntropy();
    case 'mse-count':
      return countSquaredError();
    case 'zero-one':
      return zeroOneLoss();
  }
}

/**
 * The recipe worker threads build their part from ({@link shardedEstimator}): the configured
 * network for data of `inputShape` and `classes`, its estimator and its loss.
 */
export function shardParts(args: { readonly config: TrainConfig; readonly inputShape: readonly number[]; readonly classes: number }): ShardParts {
  return { network: buildNetwork(args.config, args.inputShape, args.classes), estimator: estimatorOf(args.config), loss: lossOf(args.config) };
}

/**
 * The configured estimator: on the calling thread alone, sharded over `config.workers` more, or
 * LR's layers in `config.pipeline` stages on as many threads (for `net`, the network it trains).
 */
export async function trainingEstimator(
  c: TrainConfig,
  inputShape: readonly number[],
  classes: number,
  net?: Network,
): Promise<Estimator & { close?(): Promise<void> }> {
  const recipe = { module: import.meta.url, exportName: 'shardParts', args: { config: c, inputShape, classes } };
  // worker threads of its own: a product helper would compete with them for the cores
  if (c.pipeline > 0 || c.workers > 0) setProductThreads(1);
  if (c.pipeline > 0) {
    const network = net ?? buildNetwork(c, inputShape, classes);
    try {
      return await pipelinedLR(lrConfigOf(c), network, recipe, { stages: c.pipeline, ...(c.microBatches !== null ? { microBatches: c.microBatches } : {}) });
    } finally {
      if (!net) network.dispose();
    }
  }
  const local = estimatorOf(c);
  if (c.workers === 0) return local;
  return shardedEstimator(local, recipe, { workers: c.workers });
}
