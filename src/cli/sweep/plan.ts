/**
 * A sweep's plan: methods × seeds × a grid of train flags, each trial a fully resolved training
 * config with a name of its own. Everything is checked before the first trial starts: a grid file
 * that does not parse, an unknown key, an empty list, a value the flag refuses, a combination the
 * config refuses — each one line naming the file, the key and the value.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { check, show, SpikelrError } from '../../core/errors.js';
import { readFileNamed } from '../../core/files.js';
import { makeDirectory, writeFileAtomic } from '../../core/platform/node.js';
import { kebab, METHODS, RULES, resolveConfig, type TrainConfig, validateConfig } from '../config.js';

/** One training run of a sweep. */
export interface Trial {
  /** Its name: the run directory under `trials/` and its line's key in results.jsonl. */
  readonly name: string;
  readonly method: string;
  readonly seed: number;
  /** The grid's values for this trial, by config key. */
  readonly grid: Readonly<Record<string, unknown>>;
  readonly config: TrainConfig;
}

export interface SweepPlan {
  readonly format: 'spikelr-sweep';
  /** Names this sweep's jobs on a queue (random, kept in sweep.json so a rerun finds its jobs). */
  readonly id: string;
  readonly methods: readonly string[];
  readonly seeds: readonly number[];
  readonly grid: Readonly<Record<string, readonly unknown[]>>;
  /** The train flags every trial shares (and the config file they came with, read into them). */
  readonly flags: Partial<TrainConfig>;
  readonly trials: readonly Trial[];
}

export const PLAN_FILE = 'sweep.json';
export const RESULTS_FILE = 'results.jsonl';
export const TRIALS_DIR = 'trials';

/** A config key from a grid key: `learning-rate` (the flag) or `learningRate` (the key). */
function configKey(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Reads a grid file (JSON, or YAML for .yaml/.yml) into config keys → non-empty lists of valid values. */
export async function readGrid(file: string): Promise<Record<string, unknown[]>> {
  const text = Buffer.from(await readFileNamed(file, 'grid file')).toString('utf8');
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new SpikelrError(`${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'} (${(err as Error).message.split('\n')[0]})`);
  }
  return checkGrid(parsed, file);
}

/** Checks a grid: an object of train flags, each a non-empty list of values that flag accepts. */
export function checkGrid(grid: unknown, source: string): Record<string, unknown[]> {
  check(
    typeof grid === 'object' && grid !== null && !Array.isArray(grid),
    () => `${source}: a grid is an object of train flags, each with a list of values, e.g. {"learning-rate": [1e-3, 3e-3]}; got ${show(grid)}`,
  );
  const out: Record<string, unknown[]> = {};
  for (const [key, values] of Object.entries(grid as Record<string, unknown>)) {
    const k = configKey(key);
    check(k !== 'method' && k !== 'seed', () => `${source}: '${key}' cannot be a grid key; give the methods and seeds with --methods and --seeds`);
    check(k in RULES, () => `${source}: unknown key '${key}'; a grid key is a train flag such as ${Object.keys(RULES).slice(0, 4).map(kebab).join(', ')}`);
    check(Array.isArray(values) && values.length > 0, () => `${source}: '${key}' must be a non-empty list of values, got ${show(values)}`);
    for (const v of values as unknown[]) validateConfig({ [k]: v }, source, () => `'${key}'`);
    check(new Set((values as unknown[]).map((v) => JSON.stringify(v))).size === (values as unknown[]).length, () => `${source}: '${key}' lists a value twice`);
    out[k] = values as unknown[];
  }
  return out;
}

/** Every combination of the grid's values, in the order of its keys (the last varies fastest). */
function combinations(grid: Readonly<Record<string, readonly unknown[]>>): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>((acc, [k, values]) => acc.flatMap((c) => values.map((v) => ({ ...c, [k]: v }))), [{}]);
}

/** A trial's name: method, grid values and seed, in characters any file system takes. */
export function trialName(method: string, grid: Readonly<Record<string, unknown>>, seed: number): string {
  const part = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : JSON.stringify(v)).replace(/[^\w.,+-]+/g, '_');
  return [method, ...Object.entries(grid).map(([k, v]) => `${kebab(k)}=${part(v)}`), `seed${seed}`].join('-');
}

/** The plan of methods × seeds × grid over the shared flags; every trial's config resolved and checked. */
export async function planSweep(o: {
  readonly methods: readonly string[];
  readonly seeds: readonly number[];
  readonly grid: Readonly<Record<string, readonly unknown[]>>;
  readonly flags: Partial<TrainConfig>;
  readonly configFile?: string;
}): Promise<Omit<SweepPlan, 'id'>> {
  check(o.methods.length > 0, () => '--methods: give at least one method');
  for (const m of o.methods)
    check((METHODS as readonly string[]).includes(m), () => `--methods: unknown method '${m}'; expected some of ${METHODS.join(', ')}`);
  check(o.seeds.length > 0, () => '--seeds: give at least one seed');
  for (const s of o.seeds) check(Number.isInteger(s) && s >= 0, () => `--seeds: a seed is an integer >= 0, got ${show(s)}`);
  check(new Set(o.seeds).size === o.seeds.length, () => '--seeds: a seed is listed twice');
  check(new Set(o.methods).size === o.methods.length, () => '--methods: a method is listed twice');
  const trials: Trial[] = [];
  for (const method of o.methods)
    for (const point of combinations(o.grid))
      for (const seed of o.seeds) {
        const name = trialName(method, point, seed);
        const config = await resolveConfig({
          ...(o.configFile !== undefined ? { file: o.configFile } : {}),
          flags: { ...o.flags, ...point, seed },
          method,
        }).catch((err: Error) => {
          throw new SpikelrError(`sweep trial ${name}: ${err.message}`);
        });
        check(!trials.some((t) => t.name === name), () => `sweep: two trials would both be named ${name}; give the grid distinct values`);
        trials.push({ name, method, seed, grid: point, config });
      }
  return { format: 'spikelr-sweep', methods: o.methods, seeds: o.seeds, grid: o.grid, flags: o.flags, trials };
}

/** The plan's identity: what it trains, not its id. */
const fingerprint = (p: Omit<SweepPlan, 'id'>) => createHash('sha256').update(JSON.stringify(p.trials)).digest('hex');

/**
 * The plan as `out`/sweep.json holds it: written when new; when a sweep is there already, its id
 * kept if it plans the same trials (a rerun), else an error unless `force`.
 */
export async function settlePlan(out: string, plan: Omit<SweepPlan, 'id'>, force: boolean): Promise<SweepPlan> {
  const file = path.join(out, PLAN_FILE);
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as SweepPlan;
    if (fingerprint(old) === fingerprint(plan)) return { ...plan, id: old.id };
    check(
      force,
      () =>
        `${out} holds another sweep (its ${PLAN_FILE} plans other trials); rerun it with the same flags to finish it, choose another --out, or start over with --force`,
    );
  }
  if (force) {
    // the old sweep's results and trials go first, its plan last: a removal cut short still reads as the old sweep
    await rm(path.join(out, RESULTS_FILE), { force: true });
    await rm(path.join(out, TRIALS_DIR), { recursive: true, force: true });
  } else if (existsSync(path.join(out, RESULTS_FILE)) && !force) {
    throw new SpikelrError(`${out} has a ${RESULTS_FILE} but no ${PLAN_FILE}; choose another --out, or start over with --force`);
  }
  const settled: SweepPlan = { ...plan, id: randomUUID().slice(0, 8) };
  await makeDirectory(out);
  await writeFileAtomic(file, `${JSON.stringify(settled, null, 2)}\n`);
  return settled;
}
