/**
 * One trial as an ordinary run directory, trained by `spikelr train` in a child process: a new
 * directory starts from the trial's config, one with a config.json resumes from its last
 * checkpoint (bit for bit where an unbroken run would be), one with a metrics.json is done and
 * is only read. The child ends when its parent does (its IPC channel closes), so a killed sweep
 * or worker leaves no trainer behind writing into a directory another process may take over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledModule } from '../../core/compiled-module.js';
import { makeDirectory, writeFileAtomic } from '../../core/platform/node.js';
import type { TrainConfig } from '../config.js';
import { METRICS_FILE } from '../train.js';
import type { Trial } from './plan.js';

/** A finished trial, as a line of results.jsonl. */
export interface TrialResult {
  readonly trial: string;
  readonly method: string;
  readonly seed: number;
  readonly grid: Readonly<Record<string, unknown>>;
  /** Test accuracy of the final model; null when the trial failed. */
  readonly testAccuracy: number | null;
  readonly steps: number | null;
  readonly trainSeconds: number | null;
  /** Seconds of the process that finished the trial (its start, its resume). */
  readonly wallSeconds: number;
  /** Peak bytes of live tensors in a step. */
  readonly peakTensorBytes: number | null;
  /** The host that ran it. */
  readonly host: string;
  /** Why the trial failed (an input the trainer refused); absent when it finished. */
  readonly error?: string;
}

/** The run's metrics.json (the summary and the per-epoch history). */
export type TrialMetrics = Record<string, unknown>;

/** A trial the trainer refused (exit 1): rerunning it cannot help. */
export class TrialRefused extends Error {}

const MAIN = compiledModule(path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), `main${path.extname(fileURLToPath(import.meta.url))}`));

/** Children running now, so that a stop can pass its signal on. */
export const running = new Set<ChildProcess>();

/** Runs `spikelr train …args` in a child; resolves with its exit code and the last lines of its stderr. */
function train(args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'train', ...args, '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: process.env });
    running.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stderr });
    });
  });
}

/** The trial's config file beside its run directory (the run directory itself holds one run's files only). */
const configFileOf = (runDir: string) => `${runDir}.config.json`;

/**
 * Trains `trial` into `runDir` (resuming what is there) and returns its result and metrics. A
 * refusal of the trainer (bad input: exit 1) is a {@link TrialRefused}; a crash is a plain Error.
 */
export async function runTrial(trial: Trial, runDir: string): Promise<{ result: TrialResult; metrics: TrialMetrics }> {
  const started = performance.now();
  const metricsFile = path.join(runDir, METRICS_FILE);
  if (!existsSync(metricsFile)) {
    let args: string[];
    if (existsSync(path.join(runDir, 'config.json'))) args = ['--resume', runDir];
    else {
      await makeDirectory(path.dirname(runDir));
      await writeFileAtomic(configFileOf(runDir), `${JSON.stringify(trial.config as TrainConfig, null, 2)}\n`);
      args = ['--config', configFileOf(runDir), '--out', runDir];
    }
    const r = await train(args);
    if (r.code !== 0) {
      const line = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('spikelr: error: '))
        .at(-1);
      if (r.code === 1 && line) throw new TrialRefused(line.replace('spikelr: error: ', ''));
      throw new Error(`trial ${trial.name}: spikelr train ended with ${r.signal ?? `code ${r.code}`}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  const metrics = JSON.parse(readFileSync(metricsFile, 'utf8')) as TrialMetrics;
  const num = (k: string) => (typeof metrics[k] === 'number' ? (metrics[k] as number) : null);
  return {
    result: {
      trial: trial.name,
      method: trial.method,
      seed: trial.seed,
      grid: trial.grid,
      testAccuracy: num('testAccuracy'),
      steps: num('steps'),
      trainSeconds: num('trainSeconds'),
      wallSeconds: (performance.now() - started) / 1000,
      peakTensorBytes: num('peakTensorBytes'),
      host: os.hostname(),
    },
    metrics,
  };
}

/** The line of a trial the trainer refused. */
export function refusedResult(trial: Trial, error: string): TrialResult {
  return {
    trial: trial.name,
    method: trial.method,
    seed: trial.seed,
    grid: trial.grid,
    testAccuracy: null,
    steps: null,
    trainSeconds: null,
    wallSeconds: 0,
    peakTensorBytes: null,
    host: os.hostname(),
    error,
  };
}
