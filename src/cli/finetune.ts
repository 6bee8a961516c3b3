/**
 * `spikelr finetune RUN_DIR --method lr|bptt --deploy …`: a trained run, deployed (quantized
 * weights, fixed-point neurons, mismatch: src/sim/deploy.ts) and trained on under the deployment.
 * A run like any other (`train --resume` continues it), its config naming the model it started
 * from (`init`) and the deployment; metrics.json adds where it started: the source model's float
 * accuracy and its accuracy as deployed before the first step.
 */
import { existsSync, promises as fs } from 'node:fs';
import { writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { check, SpikelrError } from '../core/errors.js';
import { evaluateDataset, MODEL_FILE, testSeed } from '../learning/trainer.js';
import { CONFIG_FILE, loadTrained, METRICS_FILE, runTraining, type RunOptions, type RunSummary } from './train.js';
import { resolveConfig, type TrainConfig } from './config.js';
import { loadSplits, lossOf } from './recipe.js';
import { IMPORT_FILE } from './nir.js';

export interface FinetuneSummary extends RunSummary {
  readonly source: string;
  /** The source model's test accuracy as trained (float, no deployment). */
  readonly sourceTestAccuracy: number;
  /** Its test accuracy deployed, before fine-tuning. */
  readonly deployedTestAccuracy: number | null;
}

/** What `spikelr import` recorded of a model's origin (import.json), if it did. */
async function importInfo(dir: string): Promise<Record<string, unknown> | undefined> {
  const file = path.join(dir, IMPORT_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Fine-tunes the model of run directory `source` under its flags' deployment: the source's config
 * with `flags` over it (the method, the deployment, the learning rate, epochs or maxSteps).
 */
export async function runFinetune(source: string, flags: Partial<TrainConfig>, o: RunOptions): Promise<FinetuneSummary> {
  const modelFile = path.join(source, MODEL_FILE);
  check(
    existsSync(modelFile),
    () => `finetune: ${source} holds no ${MODEL_FILE}; give the directory of a run spikelr train completed, or of a model spikelr import wrote`,
  );
  check(flags.init === undefined, () => 'finetune: the directory is the model it starts from; drop --init');
  const ownConfig = existsSync(path.join(source, CONFIG_FILE));
  const { net, config: trained } = await loadTrained(source, ownConfig ? {} : flags);
  let sourceAccuracy: number;
  let config: TrainConfig;
  try {
    if (ownConfig) {
      // the run's recipe; one epoch unless told otherwise
      const { deploy: _deploy, init: _init, ...recipe } = trained;
      config = await resolveConfig({ flags: { ...recipe, epochs: 1, maxSteps: null, ...flags, init: modelFile } });
    } else {
      // an imported model: its own layers, the recipe from the flags (an analog model needs one step of direct input)
      const imported = await importInfo(source);
      const analog = imported?.['format'] === 'tfjs-layers' ? { steps: 1, encoding: 'direct' as const } : {};
      config = await resolveConfig({ flags: { epochs: 1, ...analog, ...flags, network: modelFile, init: modelFile } });
    }
    if (config.deploy === null)
      process.stderr.write('spikelr: finetune without --deploy trains the float network on; give --deploy weights=4,state=16.8 to fine-tune it as deployed\n');
  } catch (err) {
    net.dispose();
    throw err;
  }
  const splits = await loadSplits(config);
  try {
    check(
      splits.test.inputShape.join() === net.inputShape.join(),
      () =>
        `finetune: ${modelFile} takes ${net.inputShape.join('x')} inputs per step; ${config.dataset} gives ${splits.test.inputShape.join('x')} (check --dataset and --encoding)`,
    );
    sourceAccuracy = evaluateDataset(net, splits.test, { seed: testSeed(config.seed), loss: lossOf(config), accuracy: config.accuracy }).accuracy;
  } finally {
    net.dispose();
  }
  const out = o.out ?? `${source.replace(/[/\\]+$/, '')}-finetune-${config.method}`;
  const summary = await runTraining(config, { ...o, out, splits });
  const result: FinetuneSummary = { ...summary, source, sourceTestAccuracy: sourceAccuracy, deployedTestAccuracy: summary.startTestAccuracy ?? null };
  const metrics = path.join(summary.runDir, METRICS_FILE);
  if (existsSync(metrics)) {
    let written: Record<string, unknown>;
    try {
      written = JSON.parse(await fs.readFile(metrics, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new SpikelrError(`finetune: ${metrics} is not valid JSON (${(err as Error).message})`);
    }
    await writeFileAtomic(
      metrics,
      `${JSON.stringify({ ...written, source, sourceTestAccuracy: sourceAccuracy, deployedTestAccuracy: result.deployedTestAccuracy }, null, 2)}\n`,
    );
  }
  return result;
}
