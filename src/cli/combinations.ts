import { check } from '../core/errors.js';
import { NOISE_SCALE, parseSchedule } from '../learning/schedule.js';
import { formulaSurrogate } from '../neurons/surrogate.js';
import { methodOf } from '../learning/estimators/registry.js';
import { IMAGE_DATASETS, type TrainConfig } from '../learning/config.js';
import { defaultConfig } from '../learning/defaults.js';

import { convStages, type ConvStage } from '../learning/config.js';

/** The layers with neurons before the readout that the config builds: conv layers and hidden layers. */
export function neuronLayers(c: TrainConfig): number {
  return c.hidden.length + (c.conv === null ? 0 : (convStages(c.conv) as ConvStage[]).filter((s) => s.kind === 'conv').length);
}

/**
 * The layers (0-based among the conv and hidden layers) that get a local head and end a block:
 * every one but the last with 'each' (or 'auto' for a method that trains blocks by default on two
 * or more layers), those listed, or none.
 */
export function localHeadLayers(c: TrainConfig): number[] {
  const n = neuronLayers(c);
  if (c.localLosses === 'none' || c.network !== null) return [];
  if (Array.isArray(c.localLosses)) return [...new Set(c.localLosses as readonly number[])].sort((a, b) => a - b).map((k) => k - 1);
  const each = c.localLosses === 'each' || (methodOf(c.method).localLosses?.auto === true && n >= 2);
  return each ? Array.from({ length: n - 1 }, (_, i) => i) : [];
}

/**
 * The layers `decorrelate` names, 'auto' resolved: the hidden layers where a forward-only learner
 * (one whose blocks localLosses 'auto' turns on) trains a dense stack in blocks — the one-epoch depth
 * table's measurement (784-512^d-10: LR +0.8–0.9 points from d = 2, fg-activity +1.2–1.3) — or a
 * recurrent one (row-by-row MNIST, one epoch: LR 77.15 → 83.55%, fg-activity 78.39 → 80.44%, its
 * 28 inputs cheap to decorrelate), and the conv and hidden layers of an LR conv stack, whose R and μ
 * come from a noise-free pass ({@link decorrelationInputsOf}: `8c5-p2-16c3-p2` over 3 epochs 96.20 /
 * 97.62 / 96.96% against 95.09 / 95.55 / 95.98% without; with R from the noisy copies it fell to
 * 79.76% in one epoch);
 * none otherwise (forward gradients' conv stacks are unmeasured; a single feed-forward layer gains
 * 0.3 points for 3× the time).
 */
export function decorrelatedLayers(c: TrainConfig): Exclude<TrainConfig['decorrelate'], 'auto'> {
  if (c.decorrelate !== 'auto') return c.decorrelate;
  if (lrConvStack(c)) return 'hidden';
  const forwardOnly = methodOf(c.method).localLosses?.auto === true && c.conv === null && c.network === null;
  return forwardOnly && (localHeadLayers(c).length > 0 || c.recurrent) ? 'hidden' : 'none';
}

/** An LR network with conv layers, built by the CLI (not a network file). */
const lrConvStack = (c: TrainConfig) => c.method === 'lr' && c.conv !== null && c.network === null;

/** The pass decorrelation statistics come from, 'auto' resolved: a noise-free one for an LR conv stack decorrelated by 'auto', LR's own copies otherwise. */
export function decorrelationInputsOf(c: TrainConfig): Exclude<TrainConfig['decorrelationInputs'], 'auto'> {
  if (c.decorrelationInputs !== 'auto') return c.decorrelationInputs;
  return c.decorrelate === 'auto' && lrConvStack(c) ? 'deterministic' : 'estimate';
}

/**
 * The noise schedule, 'auto' resolved: 'anneal' for an LR conv stack — trained at a constant σ its
 * noise-free read-out fell 5–9 points behind the noisy network it trained (`8c5-p2-16c3-p2`, seed 1:
 * 91.44% against 97.90%), and 150 steps at a fifth of σ brought it to 97.67% — 'constant' otherwise.
 */
export function noiseScheduleOf(c: TrainConfig): string {
  if (c.noiseSchedule !== 'auto') return c.noiseSchedule;
  return lrConvStack(c) ? 'anneal' : 'constant';
}

/**
 * The config of a compare's arm that runs `method`: the shared config with the keys only another
 * learner reads (and checkCombinations refuses for this one) at this method's defaults, so that the
 * arm's config.json describes its own run and resumes as one.
 */
export function methodConfig(c: TrainConfig, method: TrainConfig['method']): TrainConfig {
  const d = defaultConfig(method);
  return {
    ...c,
    method,
    ...(method !== 'bptt' ? { recurrentHops: d.recurrentHops } : {}),
    ...(method !== 'lr' ? { noiseSchedule: d.noiseSchedule } : {}),
  };
}

/**
 * Checks combinations that single keys cannot. `shared`: the config serves several methods at once
 * (compare), so a key that only one of them reads is not refused for the config's own method.
 */
export function checkCombinations(c: TrainConfig, source: string, shared = false): void {
  const spikingOutput = c.loss === 'ce-count' || c.loss === 'mse-count';
  check(
    c.accuracy !== 'first-spike' || spikingOutput,
    () => `${source}: accuracy 'first-spike' needs a spiking output layer: use loss 'ce-count' or 'mse-count'`,
  );
  check(c.patience === null || c.validation > 0, () => `${source}: patience (early stopping) needs a validation split: set validation, e.g. 0.1`);
  parseSchedule(c.schedule);
  if (c.noiseSchedule !== 'auto') {
    check(
      c.method === 'lr' || c.noiseSchedule === 'constant',
      () => `${source}: noiseSchedule scales LR's escape noise; method '${c.method}' has none: drop noiseSchedule or use method 'lr'`,
    );
    parseSchedule(c.noiseSchedule, NOISE_SCALE);
  }
  if (c.recurrentHops !== null) {
    check(
      shared || c.method === 'bptt',
      () =>
        `${source}: recurrentHops limits BPTT's gradient through recurrent weights; method '${c.method}' has no such gradient (LR's localCredit 'unit-all' already drops those paths, 'loss' keeps them): drop recurrentHops or use method 'bptt'`,
    );
    check(
      c.recurrent || c.network !== null,
      () => `${source}: recurrentHops applies to recurrent layers, and this network has none: add recurrent, or drop recurrentHops`,
    );
  }
  if (c.surrogate === 'formula') formulaSurrogate(c.surrogateFormula);
  check(
    c.dataset === 'mnist' || c.dataset === 'randman' || c.dataDir !== null,
    () => `${source}: dataset '${c.dataset}' needs dataDir, the folder of its files`,
  );
  check(
    c.hidden.length > 0 || c.conv !== null || c.network !== null,
    () => `${source}: hidden is empty and there are no conv layers: give at least one hidden layer, e.g. [500], or conv layers, e.g. '8c5-p2'`,
  );
  check(
    c.conv === null || IMAGE_DATASETS.includes(c.dataset),
    () => `${source}: conv layers need image input; dataset '${c.dataset}' is not one (use ${IMAGE_DATASETS.join(', ')}, or drop conv)`,
  );
  check(c.conv === null || !c.recurrent, () => `${source}: recurrent applies to dense hidden layers; with conv layers, drop recurrent`);
  if (c.pipeline > 0) {
    check(
      c.method === 'lr',
      () => `${source}: pipeline (layer-parallel training) needs a forward-only learner, method 'lr'; ${c.method} waits for a backward pass`,
    );
    check(c.workers === 0, () => `${source}: pipeline and workers each use the other cores; choose one (pipeline splits the layers, workers the batch)`);
    check(c.regularizer === 'none', () => `${source}: pipeline: a rate regulariser reads the spikes of every stage; use regularizer 'none' or drop pipeline`);
    check(c.baseline !== 'noise-free', () => `${source}: pipeline: the noise-free baseline needs a noise-free pass through every stage; use baseline 'loo'`);
    check(c.timeChunk === null, () => `${source}: pipeline: time chunks rerun every stage's chunks in reverse; use one or the other`);
    check(
      c.microBatches === null || c.microBatches <= c.batchSize,
      () => `${source}: microBatches (${c.microBatches}) cannot exceed batchSize (${c.batchSize})`,
    );
  } else check(c.microBatches === null, () => `${source}: microBatches applies to pipeline; set pipeline to 2 or more, or drop microBatches`);
  if (c.localLosses !== 'none' && c.localLosses !== 'auto') {
    const what = `localLosses ${JSON.stringify(c.localLosses)}`;
    check(
      methodOf(c.method).localLosses !== undefined,
      () => `${source}: ${what}: method '${c.method}' cannot train blocks on local losses (lr, fg-activity and bptt can); use localLosses 'none'`,
    );
    check(
      c.network === null,
      () =>
        `${source}: ${what} puts heads on the hidden layers the config builds; a network from a model file has its own layers (drop network, or localLosses)`,
    );
    const n = neuronLayers(c);
    check(
      n >= 2,
      () => `${source}: ${what} needs two or more hidden or conv layers (the last one is trained by the network's loss); add layers or use localLosses 'none'`,
    );
    const out = Array.isArray(c.localLosses) ? (c.localLosses as readonly number[]).filter((k) => k > n - 1) : [];
    check(
      out.length === 0,
      () =>
        `${source}: ${what}: block boundaries out of range: layer ${out.join(', ')} of the ${n} conv and hidden layers; a head ends a block on layers 1 to ${n - 1} (the last one's block ends at the readout)`,
    );
  }
  if (localHeadLayers(c).length && c.method === 'lr') {
    const off = 'or --local-losses none';
    check(c.timeChunk === null, () => `${source}: local losses do not run in LR's time chunks yet; drop timeChunk ${off}`);
    check(
      c.baseline !== 'noise-free',
      () =>
        `${source}: local losses take the leave-one-out baseline or none (the noise-free baseline is the network's loss, not a block's); use --baseline loo ${off}`,
    );
    check(
      c.regularizer === 'none',
      () =>
        `${source}: local losses with a rate regulariser are not supported yet (a block's penalty would need its own weighting); drop the regularizer ${off}`,
    );
  }
  if (c.encoding === 'rows') {
    check(
      c.conv === null,
      () =>
        `${source}: encoding 'rows' gives one image row a step to dense or recurrent layers; conv layers read whole images (use encoding 'rate' or 'direct', or drop conv)`,
    );
    check(c.dataset !== 'mnist' || c.steps === 28, () => `${source}: encoding 'rows' has one step per image row: MNIST needs steps 28, got ${c.steps}`);
  }
  for (const key of ['layerNoise', 'layerCopies'] as const)
    check(
      c[key] === null || c.method === 'lr',
      () => `${source}: ${key} sets LR's noise per layer; method '${c.method}' has no escape noise to set (drop ${key}, or use method 'lr')`,
    );
  check(
    c.layerCopies === null || c.pipeline === 0,
    () => `${source}: layerCopies runs one pass per noisy layer, which the layer pipeline does not split into stages yet; use one or the other`,
  );
  check(
    c.timeChunk === null || c.method === 'lr',
    () => `${source}: timeChunk applies to method 'lr' (the other learners' memory is set by their own pass); drop timeChunk`,
  );
  check(
    c.deploy?.weightBits == null || decorrelatedLayers(c) === 'none',
    () => `${source}: deploy's weightBits quantizes each layer's W, but decorrelated layers compute with the fused W R; use decorrelate 'none' with weightBits`,
  );
}
