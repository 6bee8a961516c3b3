/**
 * Trials on a BullMQ queue in Redis: the sweep adds each missing trial as a job (its id the sweep's
 * id and the trial's name, so a rerun finds the jobs it added before) and waits for them; any
 * number of `spikelr worker` processes, on any machines, take jobs, train them into run
 * directories of their own (or on a shared file system) and return the result and the metrics
 * through Redis. BullMQ's stalled-job check hands the job of a worker that died to another, which
 * resumes the run from its last checkpoint when it can reach the run directory, else starts it
 * again; a trial the trainer refuses fails once, without retries.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { secondsFromEnv } from '../../core/bounded-wait.js';
import { SpikelrError } from '../../core/errors.js';
import type { Trial } from './plan.js';
import { TRIALS_DIR } from './plan.js';
import { running, runTrial, TrialRefused, type TrialMetrics, type TrialResult } from './trial.js';

/** The queue every sweep and worker shares; a job names its sweep. */
export const QUEUE = 'spikelr-trials';

/** What a job carries. */
export interface TrialJob {
  readonly sweep: string;
  readonly trial: Trial;
}

/** Seconds a worker's lock on a job lasts without renewal: a worker dead this long loses its job to another (SPIKELR_QUEUE_LOCK_S). */
export const LOCK_SECONDS = 30;

/** Checks that Redis answers at `url`; out of reach, one line naming the URL, within seconds. */
export async function checkReachable(url: string): Promise<void> {
  if (!/^rediss?:\/\/[^/\s]+/.test(url)) throw new SpikelrError(`--queue: '${url}' is not a Redis URL; write redis://HOST:PORT[/DB]`);
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined;
  probe.on('error', (err: Error) => {
    cause ??= err; // the socket's own error (ECONNREFUSED, ENOTFOUND), reported below once
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new SpikelrError(`cannot reach Redis at ${url}: ${(cause ?? (err as Error)).message || 'connection refused'}`);
  } finally {
    probe.disconnect();
  }
}

/** Checks `url` and connects; Redis out of reach is one line naming the URL, within seconds. */
export async function connect(url: string): Promise<Redis> {
  await checkReachable(url);
  const client = new Redis(url, { maxRetriesPerRequest: null });
  client.on('error', (err) => process.stderr.write(`spikelr: Redis at ${url}: ${err.message}\n`));
  return client;
}

/** The job id of a trial of a sweep. */
const jobId = (sweep: string, trial: string) => `${sweep}__${trial}`;

/**
 * Adds the trials to the queue and calls `done` as each finishes (its result and, for a finished
 * one, its metrics); resolves when all have.
 */
export async function queueTrials(
  url: string,
  sweep: string,
  trials: readonly Trial[],
  done: (result: TrialResult, metrics: TrialMetrics | undefined, trial: Trial) => Promise<void>,
  refused: (trial: Trial, error: string) => Promise<void>,
): Promise<void> {
  const client = await connect(url);
  const blocking = client.duplicate();
  const queue = new Queue<TrialJob>(QUEUE, { connection: client as ConnectionOptions });
  const events = new QueueEvents(QUEUE, { connection: blocking as ConnectionOptions });
  try {
    await events.waitUntilReady();
    const jobs = await Promise.all(
      trials.map((trial) =>
        queue.add(
          trial.name,
          { sweep, trial },
          { jobId: jobId(sweep, trial.name), attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false },
        ),
      ),
    );
    await Promise.all(
      jobs.map(async (job, i) => {
        const trial = trials[i]!;
        try {
          const value = (await job.waitUntilFinished(events)) as { result: TrialResult; metrics: TrialMetrics };
          await done(value.result, value.metrics, trial);
        } catch (err) {
          const message = (err as Error).message;
          // a refusal is reported as the trainer gave it; anything else after BullMQ's retries
          await refused(trial, message.replace(/^refused: /, ''));
        }
      }),
    );
  } finally {
    await events.close();
    await queue.close();
    // connections handed to BullMQ stay open until their owner closes them
    blocking.disconnect();
    client.disconnect();
  }
}

/**
 * `spikelr worker`: takes trials off the queue until stopped, `concurrency` at a time, training
 * each into `out/<sweep>/trials/<name>`. A SIGTERM or SIGINT stops it: its trials stop with a
 * checkpoint and their jobs go back to the queue (another worker resumes them).
 */
export async function runWorker(url: string, o: { readonly concurrency: number; readonly out: string; readonly log: (line: string) => void }): Promise<void> {
  const connection = await connect(url);
  const lock = secondsFromEnv('SPIKELR_QUEUE_LOCK_S', LOCK_SECONDS) * 1000;
  const worker = new Worker<TrialJob>(
    QUEUE,
    async (job) => {
      const { sweep, trial } = job.data;
      const runDir = path.join(o.out, sweep, TRIALS_DIR, trial.name);
      const how = existsSync(path.join(runDir, 'config.json')) ? 'resuming' : 'training';
      o.log(`${trial.name}: ${job.attemptsMade > 0 ? `attempt ${job.attemptsMade + 1}, ` : ''}${how} in ${runDir}`);
      try {
        const r = await runTrial(trial, runDir);
        o.log(`${trial.name}: test accuracy ${r.result.testAccuracy}`);
        return r;
      } catch (err) {
        o.log(`${trial.name}: ${(err as Error).message}`);
        if (err instanceof TrialRefused) throw new UnrecoverableError(`refused: ${err.message}`);
        throw err;
      }
    },
    { connection, concurrency: o.concurrency, lockDuration: lock, stalledInterval: lock, maxStalledCount: 3, autorun: false },
  );
  worker.on('error', (err) => o.log(`queue error: ${err.message}`));
  await worker.waitUntilReady();
  o.log(`worker on ${os.hostname()} (pid ${process.pid}): taking trials from ${url}, ${o.concurrency} at a time, run directories under ${o.out}`);
  const stop = (sig: NodeJS.Signals) => {
    o.log(`${sig}: stopping; running trials write a checkpoint and go back to the queue`);
    for (const child of running) child.kill('SIGTERM');
    void worker.close(true).finally(() => {
      connection.disconnect();
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await worker.run();
}
