/**
 * The training configuration of `spikelr train` and `compare`: one JSON-able record, filled from
 * defaults, a JSON file and flags (in that order), validated once with errors that name the key,
 * the value and what is allowed. A run directory keeps the resolved record as config.json, so a run
 * can be resumed or evaluated from it alone.
 */
import { writeFileAtomic } from '../core/platform/node.js';
import { check, show, SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';
import { ACCURACY_KINDS, MEMBRANE_REDUCTIONS } from '../learning/losses.js';
import { OPTIMIZERS } from '../learning/optim.js';
import { parseSchedule } from '../learning/schedule.js';
import { formulaSurrogate } from '../neurons/surrogate.js';
import { METHODS, methodOf } from '../learning/estimators/registry.js';
import {
  BASELINES,
  DATASETS,
  DECORRELATED,
  DECORRELATION_INPUTS,
  IMAGE_DATASETS,
  INPUT_ENCODINGS,
  LOCAL_CREDITS,
  LOCAL_LOSSES,
  LOSSES,
  NEURONS,
  SCORES,
  SURROGATES,
  TANGENTS,
  type TrainConfig,
} from '../learning/config.js';

export * from '../learning/config.js';
export { METHODS } from '../learning/estimators/registry.js';
import { REGULARIZERS } from '../learning/regularizers.js';
import { SAMPLINGS } from '../learning/sampling.js';
import { NOISE_KINDS } from '../neurons/noise.js';
import { deployment, type DeploymentOptions } from '../sim/deploy.js';
import { equationNeuron, RESET_MODES, type EquationOptions } from '../neurons/params.js';

import { defaultConfig } from '../learning/defaults.js';
export { COMMON_DEFAULTS, METHOD_DEFAULTS, defaultConfig } from '../learning/defaults.js';

type Rule = (value: unknown) => string | undefined;

const oneOf =
  (allowed: readonly string[]): Rule =>
  (v) =>
    typeof v === 'string' && allowed.includes(v) ? undefined : `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
const int =
  (min: number, nullable = false): Rule =>
  (v) =>
    (nullable && v === null) || (typeof v === 'number' && Number.isInteger(v) && v >= min)
      ? undefined
      : `must be an integer >= ${min}${nullable ? ' or null' : ''}`;
const num =
  (lo: number, hi: number, open = false): Rule =>
  (v) =>
    typeof v === 'number' && Number.isFinite(v) && (open ? v > lo : v >= lo) && v <= hi ? undefined : `must be a number in ${open ? '(' : '['}${lo}, ${hi}]`;
const bool: Rule = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const str: Rule = (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string');
const nullableStr: Rule = (v) => (v === null || (typeof v === 'string' && v.length > 0) ? undefined : 'must be a path or null');
const intList: Rule = (v) =>
  Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 1) ? undefined : 'must be a list of positive integers, e.g. [1000] (or [] after conv layers)';

/** One stage of a {@link TrainConfig.conv} string: a convolution or a max pooling. */
export type ConvStage =
  | { readonly kind: 'conv'; readonly filters: number; readonly kernel: number; readonly stride: number }
  | { readonly kind: 'pool'; readonly size: number };

/** The stages of a conv string (`8c5-p2`, `16c3s2-p2`), or an error message. */
export function convStages(text: string): ConvStage[] | string {
  const stages: ConvStage[] = [];
  for (const token of text.toLowerCase().split('-')) {
    const conv = /^(\d+)c(\d+)(?:s(\d+))?$/.exec(token),
      pool = /^p(\d+)$/.exec(token);
    if (conv && Number(conv[1]) >= 1 && Number(conv[2]) >= 1 && (conv[3] === undefined || Number(conv[3]) >= 1))
      stages.push({ kind: 'conv', filters: Number(conv[1]), kernel: Number(conv[2]), stride: Number(conv[3] ?? 1) });
    else if (pool && Number(pool[1]) >= 1) stages.push({ kind: 'pool', size: Number(pool[1]) });
    else
      return `has '${token}', which is neither FILTERScKERNEL[sSTRIDE] (a convolution, e.g. 8c5) nor pSIZE (max pooling, e.g. p2); write stages joined by '-', e.g. '8c5-p2-16c3-p2'`;
  }
  return stages.some((st) => st.kind === 'conv') ? stages : 'has no convolution (e.g. 8c5)';
}
const convSpec: Rule = (v) =>
  v === null
    ? undefined
    : typeof v !== 'string'
      ? "must be a string such as '8c5-p2' or null"
      : ((r) => (typeof r === 'string' ? r : undefined))(convStages(v));
const equations: Rule = (v) => {
  if (v === null || (typeof v === 'string' && v.length > 0)) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) return 'must be the path of a JSON file of neuron equations, an equations object, or null';
  try {
    equationNeuron(v as EquationOptions);
    return undefined;
  } catch (err) {
    return `is not a valid neuron (${(err as Error).message})`;
  }
};
const deploySpec: Rule = (v) => {
  if (v === null) return undefined;
  try {
    deployment(v as DeploymentOptions, 'deploy');
    return undefined;
  } catch (err) {
    return `is not a valid deployment (${(err as Error).message}); e.g. { "weightBits": 4, "state": { "bits": 16, "fraction": 8 } }, or on the command line --deploy weights=4,state=16.8`;
  }
};
const localLossesRule: Rule = (v) =>
  (typeof v === 'string' && (LOCAL_LOSSES as readonly string[]).includes(v)) ||
  (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 1))
    ? undefined
    : `must be one of ${LOCAL_LOSSES.map((a) => `'${a}'`).join(', ')} or a list of the layers that end a block (1-based among the conv and hidden layers), e.g. [1, 2]`;
const chunkRule: Rule = (v) =>
  v === null || v === 'auto' || (typeof v === 'number' && Number.isInteger(v) && v >= 1)
    ? undefined
    : "must be a number of steps >= 1, 'auto' (the square root of the steps) or null (off)";
const stagesRule: Rule = (v) =>
  v === 0 || (typeof v === 'number' && Number.isInteger(v) && v >= 2) ? undefined : 'must be 0 (off) or a number of stages >= 2';
const noiseSpec: Rule = (v) => {
  const [kind, sigma] = typeof v === 'string' ? v.split(':') : [];
  return kind && (NOISE_KINDS as readonly string[]).includes(kind) && Number(sigma) > 0
    ? undefined
    : `must be KIND:SIGMA with KIND one of ${NOISE_KINDS.join(', ')} and SIGMA > 0, e.g. 'logistic:0.5'`;
};

export const RULES: Record<keyof TrainConfig, Rule> = {
  dataset: oneOf(DATASETS),
  dataDir: nullableStr,
  trainLimit: int(1, true),
  testLimit: int(1, true),
  method: oneOf(METHODS),
  hidden: intList,
  conv: convSpec,
  recurrent: bool,
  neuron: oneOf(NEURONS),
  neuronEquations: equations,
  beta: num(0, 1),
  threshold: num(0, 1e6, true),
  reset: oneOf(RESET_MODES),
  readoutBeta: num(0, 1),
  steps: int(1),
  encoding: oneOf(INPUT_ENCODINGS),
  loss: oneOf(LOSSES),
  reduction: oneOf(MEMBRANE_REDUCTIONS),
  accuracy: oneOf(ACCURACY_KINDS),
  regularizer: oneOf(['none', ...REGULARIZERS]),
  regularizerWeight: num(0, 1e6, true),
  rateTarget: num(0, 1),
  optimizer: oneOf(OPTIMIZERS),
  learningRate: num(0, 10, true),
  momentum: num(0, 0.999999),
  weightDecay: num(0, 1),
  schedule: str,
  epochs: int(1),
  batchSize: int(1),
  validation: num(0, 0.9),
  patience: int(1, true),
  maxSteps: int(1, true),
  seed: int(0),
  checkpointEvery: int(1),
  evalEvery: int(1, true),
  snapshots: bool,
  workers: int(0),
  pipeline: stagesRule,
  microBatches: int(1, true),
  localLosses: localLossesRule,
  localCredit: oneOf(LOCAL_CREDITS),
  decorrelate: oneOf(DECORRELATED),
  decorrelationRate: num(0, 10, true),
  decorrelationKappa: num(0, 1),
  decorrelationCentre: bool,
  decorrelationInputs: oneOf(DECORRELATION_INPUTS),
  copies: int(1),
  noise: noiseSpec,
  score: oneOf(SCORES),
  baseline: oneOf(BASELINES),
  sampling: oneOf(SAMPLINGS),
  timeChunk: chunkRule,
  directions: int(1),
  tangent: oneOf(TANGENTS),
  surrogate: oneOf(SURROGATES),
  surrogateScale: num(0, 1e6, true),
  surrogateFormula: str,
  truncate: int(1, true),
  detachReset: bool,
  init: nullableStr,
  network: nullableStr,
  deploy: deploySpec,
};

/** Checks every key and value of a (partial) config; `source` names where it came from. */
export function validateConfig(record: unknown, source: string, nameOf: (key: string) => string = (k) => `'${k}'`): Partial<TrainConfig> {
  check(typeof record === 'object' && record !== null && !Array.isArray(record), () => `${source}: a config must be a JSON object, got ${show(record)}`);
  for (const [key, value] of Object.entries(record)) {
    const rule = (RULES as Record<string, Rule | undefined>)[key];
    if (!rule) {
      const near = Object.keys(RULES).find((k) => k.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
      throw new SpikelrError(
        `${source}: unknown key ${nameOf(key)}${near ? ` (did you mean ${nameOf(near)}?)` : ''}; allowed keys are ${Object.keys(RULES).join(', ')}`,
      );
    }
    const why = rule(value);
    if (why) throw new SpikelrError(`${source}: ${nameOf(key)} ${why}, got ${show(value)}`);
  }
  return record as Partial<TrainConfig>;
}

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

/** Checks combinations that single keys cannot. */
export function checkCombinations(c: TrainConfig, source: string): void {
  const spikingOutput = c.loss === 'ce-count' || c.loss === 'mse-count';
  check(
    c.accuracy !== 'first-spike' || spikingOutput,
    () => `${source}: accuracy 'first-spike' needs a spiking output layer: use loss 'ce-count' or 'mse-count'`,
  );
  check(c.patience === null || c.validation > 0, () => `${source}: patience (early stopping) needs a validation split: set validation, e.g. 0.1`);
  parseSchedule(c.schedule);
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
  check(
    c.timeChunk === null || c.method === 'lr',
    () => `${source}: timeChunk applies to method 'lr' (the other learners' memory is set by their own pass); drop timeChunk`,
  );
  check(
    c.deploy?.weightBits == null || c.decorrelate === 'none',
    () => `${source}: deploy's weightBits quantizes each layer's W, but decorrelated layers compute with the fused W R; use decorrelate 'none' with weightBits`,
  );
}

/** `learningRate` → `learning-rate`: the flag of a config key. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Reads a JSON file; a missing file or bad JSON is an error naming the file and `what` it is. */
async function readJsonFile(file: string, what: string): Promise<unknown> {
  const text = Buffer.from(await readFileNamed(file, what)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SpikelrError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Reads and validates a JSON config file. */
export async function readConfigFile(file: string): Promise<Partial<TrainConfig>> {
  return validateConfig(await readJsonFile(file, 'config file'), file);
}

/** Reads a JSON file of neuron equations and checks it as a neuron (errors name the file). */
export async function readEquationsFile(file: string): Promise<EquationOptions> {
  const parsed = await readJsonFile(file, 'neuron equations file');
  try {
    equationNeuron(parsed as EquationOptions);
  } catch (err) {
    throw new SpikelrError(`${file}: ${(err as Error).message}`);
  }
  return parsed as EquationOptions;
}

/** Defaults of the method, then the file, then the flags; validated as a whole. */
export async function resolveConfig(o: {
  readonly file?: string;
  readonly flags: Partial<TrainConfig>;
  readonly method?: TrainConfig['method'];
}): Promise<TrainConfig> {
  const fromFile = o.file ? await readConfigFile(o.file) : {};
  const flags = validateConfig(o.flags, 'command line', (k) => `--${kebab(k)}`);
  const method = o.method ?? flags.method ?? fromFile.method ?? 'lr';
  const config = { ...defaultConfig(method), ...fromFile, ...flags, method };
  if (typeof config.neuronEquations === 'string') config.neuronEquations = await readEquationsFile(config.neuronEquations);
  validateConfig(config, 'config');
  if (config.deploy !== null) config.deploy = deployment(config.deploy); // every key filled in
  checkCombinations(config, o.file ?? 'config');
  return config;
}

export async function writeConfig(file: string, config: TrainConfig): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
}
