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
import { METHODS } from '../learning/estimators/registry.js';
import {
  BASELINES,
  convStages,
  DATASETS,
  DECORRELATED,
  DECORRELATION_INPUTS,
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
export { checkCombinations, decorrelatedLayers, decorrelationInputsOf, localHeadLayers, neuronLayers, noiseScheduleOf } from './combinations.js';
import { checkCombinations } from './combinations.js';
export { METHODS } from '../learning/estimators/registry.js';
import { REGULARIZERS } from '../learning/regularizers.js';
import { SAMPLINGS } from '../learning/sampling.js';
import { NOISE_KINDS } from '../neurons/noise.js';
import { deployment, type DeploymentOptions } from '../sim/deploy.js';
import { equationNeuron, RESET_MODES, type EquationOptions } from '../neurons/params.js';

import { defaultConfig } from '../learning/defaults.js';
export { COMMON_DEFAULTS, KEYS_ADDED, METHOD_DEFAULTS, defaultConfig } from '../learning/defaults.js';

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

/** A map from layer name to a value `ok` accepts, or null. */
const layerMap =
  (what: string, ok: Rule): Rule =>
  (v) => {
    if (v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0)
      return `must be a map from layer name to ${what} (on the command line NAME=VALUE,…), or null`;
    for (const [name, value] of Object.entries(v)) {
      const why = ok(value);
      if (why) return `has layer '${name}': ${show(value)}, which ${why}`;
    }
    return undefined;
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
  causalCredit: bool,
  noiseSchedule: str,
  decorrelate: oneOf(DECORRELATED),
  decorrelationRate: num(0, 10, true),
  decorrelationKappa: num(0, 1),
  decorrelationCentre: bool,
  decorrelationInputs: oneOf(DECORRELATION_INPUTS),
  copies: int(1),
  noise: noiseSpec,
  layerNoise: layerMap('its escape noise KIND:SIGMA', noiseSpec),
  recurrentNoiseScale: num(0, 1e6, true),
  layerCopies: layerMap('its number of copies', int(1)),
  layerRates: layerMap('its learning-rate multiple', num(0, 1e6, true)),
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
  recurrentHops: int(0, true),
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
  /** The config serves several methods at once (compare): keys one of them reads are not refused for `method`. */
  readonly shared?: boolean;
}): Promise<TrainConfig> {
  const fromFile = o.file ? await readConfigFile(o.file) : {};
  const flags = validateConfig(o.flags, 'command line', (k) => `--${kebab(k)}`);
  const method = o.method ?? flags.method ?? fromFile.method ?? 'lr';
  const config = { ...defaultConfig(method), ...fromFile, ...flags, method };
  if (typeof config.neuronEquations === 'string') config.neuronEquations = await readEquationsFile(config.neuronEquations);
  validateConfig(config, 'config');
  if (config.deploy !== null) config.deploy = deployment(config.deploy); // every key filled in
  checkCombinations(config, o.file ?? 'config', o.shared === true);
  return config;
}

export async function writeConfig(file: string, config: TrainConfig): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
}
