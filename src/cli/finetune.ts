/**
 * `spikelr finetune RUN_DIR --method lr|bptt --deploy …`: a trained run, deployed (quantized
 * weights, fixed-point neurons, mismatch: src/sim/deploy.ts) and trained on under the deployment.
 * A run like any other (`train --resume` continues it), its config naming the model it started
 * from (`init`) and the deployment; metrics.json adds where it started: the source model's float
 * accuracy and its accuracy as deployed before the first step.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { check, SpikelrError } from '../errors.js';
import { evaluateDataset, MODEL_FILE, testSeed } from '../learning/trainer.js';
import { CONFIG_FILE, loadTrained, METRICS_FILE, runTraining, type RunOptions, type RunSummary } from './train.js';
import { resolveConfig, type TrainConfig } from './config.js';
import { loadSplits, lossOf } from './recipe.js';

export interface FinetuneSummary extends RunSummary {
  readonly source: string;
  /** The source model's test accuracy as trained (float, no deployment). */
  readonly sourceTestAccuracy: number;
  /** Its test accuracy deployed, before fine-tuning. */
  readonly deployedTestAccuracy: number | null;
}

/**
 * Fine-tunes the model of run directory `source` under its flags' deployment: the source's config
 * with `flags` over it (the method, the deployment, the learning rate, epochs or maxSteps).
 */
export async function runFinetune(source: string, flags: Partial<TrainConfig>, o: RunOptions): Promise<FinetuneSummary> {
  check(existsSync(path.join(source, CONFIG_FILE)) && existsSync(path.join(source, MODEL_FILE)),
    () => `finetune: ${source} is not a finished run (it needs ${CONFIG_FILE} and ${MODEL_FILE}); give the directory of a run spikelr train completed`);
  check(flags.init === undefined, () => 'finetune: the run directory is the model it starts from; drop --init');
  const { net, config: trained } = await loadTrained(source, {});
  let sourceAccuracy: number;
  const { deploy: _deploy, init: _init, ...recipe } = trained;
  // the source's recipe; one epoch unless told otherwise
  const config = await resolveConfig({ flags: { ...recipe, epochs: 1, maxSteps: null, ...flags, init: path.join(source, MODEL_FILE) } });
  if (config.deploy === null) process.stderr.write('spikelr: finetune without --deploy trains the float network on; give --deploy weights=4,state=16.8 to fine-tune it as deployed\n');
  const splits = await loadSplits(config);
  try {
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
    await fs.writeFile(metrics, JSON.stringify({ ...written, source, sourceTestAccuracy: sourceAccuracy, deployedTestAccuracy: result.deployedTestAccuracy }, null, 2) + '\n');
  }
  return result;
}
