/**
 * `spikelr sweep`: plans the trials, runs those not yet in results.jsonl — on a local pool of
 * child processes, or on a BullMQ queue for `spikelr worker`s — appending one line per finished
 * trial, then writes summary.json and the report. Stopped and rerun with the same `--out`, it runs
 * only the trials still missing (resuming a started one from its checkpoint), so results.jsonl
 * never holds a trial twice.
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDirectory, writeFileAtomic } from '../../core/platform/node.js';
import { progressBar } from '../../learning/progress.js';
import { type SweepPlan, RESULTS_FILE, TRIALS_DIR, type Trial } from './plan.js';
import { queueTrials } from './queue.js';
import { writeSweepReport } from './report.js';
import { secondsFromEnv } from '../../core/bounded-wait.js';
import { STOP_GRACE_SECONDS } from '../train.js';
import { refusedResult, running, runTrial, TrialRefused, type TrialMetrics, type TrialResult } from './trial.js';

export interface SweepOptions {
  readonly out: string;
  /** Trials at once on the local pool. */
  readonly parallel: number;
  /** A Redis URL: the trials go on its queue instead. */
  readonly queue?: string;
  readonly progress: boolean;
  /** PDFs of the figures beside their SVGs (needs Chromium). */
  readonly pdf: boolean;
  readonly log: (line: string) => void;
}

/** The trials results.jsonl already holds (a line cut short by a crash is dropped, and the file rewritten without it). */
export async function finishedTrials(out: string): Promise<Map<string, TrialResult>> {
  const file = path.join(out, RESULTS_FILE);
  const done = new Map<string, TrialResult>();
  if (!existsSync(file)) return done;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  let whole = true;
  for (const line of lines) {
    try {
      const r = JSON.parse(line) as TrialResult;
      if (!done.has(r.trial)) done.set(r.trial, r);
    } catch {
      whole = false;
    }
  }
  if (!whole) await writeFileAtomic(file, [...done.values()].map((r) => `${JSON.stringify(r)}\n`).join(''));
  return done;
}

/** Local trials `parallel` at a time, each `spikelr train` in its own process. */
async function runLocal(
  trials: readonly Trial[],
  out: string,
  parallel: number,
  done: (result: TrialResult, metrics: TrialMetrics | undefined) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: Error[] = [];
  const lane = async () => {
    while (next < trials.length && failures.length === 0) {
      const trial = trials[next++]!;
      try {
        const r = await runTrial(trial, path.join(out, TRIALS_DIR, trial.name));
        await done(r.result, r.metrics);
      } catch (err) {
        if (err instanceof TrialRefused) await done(refusedResult(trial, err.message), undefined);
        else failures.push(err as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, trials.length) }, lane));
  if (failures.length) throw failures[0];
}

/** Runs the plan's missing trials and writes the summary and the report; returns every trial's result. */
export async function runSweep(plan: SweepPlan, o: SweepOptions): Promise<TrialResult[]> {
  await makeDirectory(path.join(o.out, TRIALS_DIR));
  const finished = await finishedTrials(o.out);
  const missing = plan.trials.filter((t) => !finished.has(t.name));
  o.log(
    `sweep ${plan.id}: ${plan.trials.length} trials (${plan.methods.length} methods × ${plan.seeds.length} seeds × ${plan.trials.length / plan.methods.length / plan.seeds.length} grid points), ${finished.size} done, ${missing.length} to run ${o.queue ? `on the queue at ${o.queue}` : `here, ${Math.min(o.parallel, Math.max(1, missing.length))} at a time`}`,
  );
  const bar = o.progress ? progressBar({ total: plan.trials.length, start: finished.size, unit: 'trials' }) : undefined;
  let count = finished.size;
  let appending = Promise.resolve();
  const record = (result: TrialResult, metrics: TrialMetrics | undefined) => {
    // one line per trial, appended in turn (never two writers in one line)
    appending = appending.then(async () => {
      await appendFile(path.join(o.out, RESULTS_FILE), `${JSON.stringify(result)}\n`);
      if (metrics && o.queue) {
        await makeDirectory(path.join(o.out, 'metrics'));
        await writeFileAtomic(path.join(o.out, 'metrics', `${result.trial}.json`), `${JSON.stringify(metrics, null, 2)}\n`);
      }
    });
    finished.set(result.trial, result);
    count++;
    const line = `${result.trial}: ${result.error ? `refused: ${result.error}` : `test accuracy ${result.testAccuracy}`}`;
    if (bar) {
      bar.note(line);
      bar.update(count);
    } else o.log(`${count}/${plan.trials.length} ${line}`);
    return appending;
  };
  const stop = stopTrialsOnSignal(o.log);
  try {
    if (o.queue)
      await queueTrials(
        o.queue,
        plan.id,
        missing,
        (r, m) => record(r, m),
        (trial, error) => record(refusedResult(trial, error), undefined),
      );
    else await runLocal(missing, o.out, o.parallel, record);
  } finally {
    stop();
    await appending;
    bar?.done();
  }
  const results = plan.trials.map((t) => finished.get(t.name)!).filter(Boolean);
  await writeSweepReport(plan, results, o.out, { pdf: o.pdf });
  return results;
}

/**
 * SIGTERM/SIGINT while trials run here: each trial stops after its step with a checkpoint (the
 * signal passed on), then the sweep exits with 128 + the signal's number; bounded by the grace
 * period of a training run. A rerun finishes the sweep. Returns the release of the handlers.
 */
function stopTrialsOnSignal(log: (line: string) => void): () => void {
  const stop = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the running trials (each writes a checkpoint); rerun the sweep to finish it`);
    const code = 128 + (os.constants.signals[sig] ?? 1);
    for (const child of running) child.kill(sig);
    const leave = () => process.exit(code);
    if (running.size === 0) leave();
    for (const child of running) child.once('exit', () => running.size === 0 && leave());
    setTimeout(leave, (secondsFromEnv('SPIKELR_STOP_GRACE_S', STOP_GRACE_SECONDS) + 5) * 1000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  };
}

/** Trials at once by default: the cores, each trial taking one and one more per `--workers` thread. */
export function defaultParallel(workers: number): number {
  return Math.max(1, Math.floor(os.availableParallelism() / (1 + workers)));
}
