/**
 * `spikelr sweep` and `spikelr worker` against a real redis-server (Debian's; started on a free
 * port here and shut down after), with BullMQ as it ships: no mocks. The trials are tiny (a few
 * steps on a slice of MNIST). What must hold: the same seeds give the same models whether a trial
 * ran locally, on a queue worker, or after a worker was killed and another resumed it; a stopped
 * sweep reruns only what is missing; bad grids and an unreachable Redis are one-line errors.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-sweep-'));
const TINY = ['--train-limit', '1280', '--test-limit', '200', '--max-steps', '12', '--checkpoint-every', '2', '--no-pdf'];

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

let redis: ChildProcess | undefined;
let url = '';
const workers: ChildProcess[] = [];

beforeAll(async () => {
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const up = await promisify(execFile)('redis-cli', ['-p', String(port), 'ping']).then(
      (r) => r.stdout.trim() === 'PONG',
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
});

afterAll(() => {
  for (const w of workers) w.kill('SIGKILL');
  redis?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** A `spikelr worker` on the test's Redis, run directories under `out`; its log collects its stderr. */
function worker(out: string): { process: ChildProcess; log: () => string } {
  let log = '';
  const child = spawn(process.execPath, [main, 'worker', url, '--out', out], {
    env: { ...process.env, SPIKELR_BACKEND: 'wasm', SPIKELR_QUEUE_LOCK_S: '2' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  workers.push(child);
  return { process: child, log: () => log };
}

interface Line {
  trial: string;
  method: string;
  seed: number;
  grid: Record<string, unknown>;
  testAccuracy: number | null;
  error?: string;
}
const results = (out: string): Line[] =>
  readFileSync(path.join(out, 'results.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
/** Lines of results.jsonl written whole so far (a reader polling beside the writer can see the file created and its line not yet written). */
const written = (out: string): number => {
  const file = path.join(out, 'results.jsonl');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0;
};
const byTrial = (lines: Line[]) => Object.fromEntries(lines.map((l) => [l.trial, l.testAccuracy]));
/** The model file of a trial's run directory, for bit-for-bit comparison. */
const model = (trials: string, name: string) => readFileSync(path.join(trials, name, 'model.safetensors'));
/** The one sweep directory a worker made under `out` (named by the sweep's id). */
const workerTrials = (out: string) => path.join(out, readdirSync(out)[0]!, 'trials');

describe('spikelr sweep', () => {
  it('runs a 2 × 2 sweep locally and through two queue workers to the same results, model for model', async () => {
    const local = path.join(dir, 'local');
    const r = await spikelr('sweep', '--methods', 'lr,bptt', '--seeds', '1,2', ...TINY, '--out', local, '--parallel', '2');
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const lines = results(local);
    expect(lines.map((l) => l.trial).sort()).toEqual(['bptt-seed1', 'bptt-seed2', 'lr-seed1', 'lr-seed2']);
    for (const l of lines) expect(l.testAccuracy).toBeGreaterThan(0.3); // above chance (10%) after 10–12 steps
    const summary = JSON.parse(readFileSync(path.join(local, 'summary.json'), 'utf8')) as { points: { name: string; testAccuracy: { n: number } }[] };
    expect(summary.points.map((p) => [p.name, p.testAccuracy.n]).sort()).toEqual([
      ['bptt', 2],
      ['lr', 2],
    ]);
    expect(readFileSync(path.join(local, 'report.html'), 'utf8')).toContain('95% interval');

    const shared = path.join(dir, 'workers');
    const [a, b] = [worker(shared), worker(shared)];
    const queued = path.join(dir, 'queued');
    const q = await spikelr('sweep', '--methods', 'lr,bptt', '--seeds', '1,2', ...TINY, '--out', queued, '--queue', url);
    expect(q.stderr).not.toMatch(/internal error/);
    expect(q.code).toBe(0);
    expect(byTrial(results(queued))).toEqual(byTrial(lines));
    // both workers took trials, and each trial's model is the local one to the bit
    expect(a.log()).toMatch(/training in/);
    expect(b.log()).toMatch(/training in/);
    for (const name of Object.keys(byTrial(lines))) expect(model(workerTrials(shared), name).equals(model(path.join(local, 'trials'), name))).toBe(true);
    a.process.kill('SIGTERM');
    b.process.kill('SIGTERM');
  });

  it('loses no trial when a worker is killed with -9 mid-trial: another resumes it from its checkpoint, to the same model', async () => {
    const args = [
      '--methods',
      'lr',
      '--seeds',
      '3',
      '--train-limit',
      '6400',
      '--test-limit',
      '200',
      '--max-steps',
      '60',
      '--checkpoint-every',
      '5',
      '--no-pdf',
    ];
    const shared = path.join(dir, 'killed-workers');
    const first = worker(shared);
    const out = path.join(dir, 'killed');
    const sweep = spikelr('sweep', ...args, '--out', out, '--queue', url);
    // kill the worker once its trial has a checkpoint on disk
    for (
      let i = 0;
      i < 600 && !(existsSync(shared) && readdirSync(shared).length && existsSync(path.join(workerTrials(shared), 'lr-seed3', 'checkpoint.safetensors')));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    first.process.kill('SIGKILL');
    const second = worker(shared);
    const r = await sweep;
    expect(r.code).toBe(0);
    expect(second.log()).toMatch(/lr-seed3: resuming in/);
    const local = path.join(dir, 'killed-local');
    expect((await spikelr('sweep', ...args, '--out', local)).code).toBe(0);
    expect(byTrial(results(out))).toEqual(byTrial(results(local)));
    expect(model(workerTrials(shared), 'lr-seed3').equals(model(path.join(local, 'trials'), 'lr-seed3'))).toBe(true);
    second.process.kill('SIGTERM');
  });

  it('stopped and rerun with the same --out, runs only the missing trials: no duplicate, none missing', async () => {
    const out = path.join(dir, 'rerun');
    const args = ['sweep', '--methods', 'lr', '--seeds', '1,2,3', ...TINY, '--out', out, '--parallel', '1'];
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' }, stdio: 'ignore' });
    for (let i = 0; i < 1200 && written(out) < 1; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = results(out);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(3);
    appendFileSync(path.join(out, 'results.jsonl'), '{"trial":"lr-se'); // a line a crash cut short
    const r = await spikelr(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`${before.length} done, ${3 - before.length} to run`));
    const after = results(out);
    expect(after.map((l) => l.trial).sort()).toEqual(['lr-seed1', 'lr-seed2', 'lr-seed3']);
    expect(after.slice(0, before.length)).toEqual(before);
    // another plan in the same directory is refused, not mixed in
    const other = await spikelr('sweep', '--methods', 'bptt', '--seeds', '1', ...TINY, '--out', out);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/holds another sweep/);
  });

  it.each([
    ['grid.json', '{"learning-rat": [0.001]}', /unknown key 'learning-rat'/],
    ['grid.json', '{"copies": []}', /'copies' must be a non-empty list/],
    ['grid.json', '{"copies": [8, 0]}', /'copies' must be an integer >= 1, got 0/],
    ['grid.json', '{"seed": [1, 2]}', /'seed' cannot be a grid key/],
    ['grid.json', '{"copies": [8,', /not valid JSON/],
    ['grid.yaml', 'copies: [8, -1]\n', /'copies' must be an integer >= 1, got -1/],
  ])('refuses a bad grid file (%s: %s) in one line before any trial starts', async (name, text, message) => {
    const file = path.join(dir, `bad-${name}`);
    writeFileSync(file, text);
    const out = path.join(dir, 'bad-grid');
    const r = await spikelr('sweep', '--methods', 'lr', '--seeds', '1', ...TINY, '--grid', file, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('crosses a YAML grid with methods and seeds, every other flag applying to all', async () => {
    const file = path.join(dir, 'grid.yml');
    writeFileSync(file, 'learning-rate: [0.001, 0.003]\n');
    const out = path.join(dir, 'grid');
    const r = await spikelr('sweep', '--methods', 'lr', '--seeds', '1', ...TINY, '--grid', file, '--out', out, '--copies', '4');
    expect(r.code).toBe(0);
    const plan = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as {
      trials: { name: string; config: { learningRate: number; copies: number } }[];
    };
    expect(plan.trials.map((t) => [t.name, t.config.learningRate, t.config.copies])).toEqual([
      ['lr-learning-rate=0.001-seed1', 0.001, 4],
      ['lr-learning-rate=0.003-seed1', 0.003, 4],
    ]);
    expect(
      results(out)
        .map((l) => l.grid['learningRate'])
        .sort(),
    ).toEqual([0.001, 0.003]);
  });

  it('reports a trial the trainer refuses as failed, once, without retries', async () => {
    const shared = path.join(dir, 'refusing-workers');
    const w = worker(shared);
    const out = path.join(dir, 'refused');
    const r = await spikelr(
      'sweep',
      '--methods',
      'lr',
      '--seeds',
      '1',
      ...TINY,
      '--init',
      path.join(dir, 'no-such-model.safetensors'),
      '--out',
      out,
      '--queue',
      url,
    );
    expect(r.code).toBe(1);
    const [line] = results(out);
    expect(line!.testAccuracy).toBeNull();
    expect(line!.error).toMatch(/no-such-model/);
    expect(w.log().match(/lr-seed1: (training|resuming|attempt)/g)).toHaveLength(1);
    w.process.kill('SIGTERM');
  });

  it('says in one line, within seconds, that Redis cannot be reached, naming the URL', async () => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    const started = performance.now();
    const r = await spikelr('sweep', '--methods', 'lr', '--seeds', '1', ...TINY, '--out', path.join(dir, 'down'), '--queue', down);
    const w = await spikelr('worker', down);
    expect(performance.now() - started).toBeLessThan(20_000);
    for (const x of [r, w]) {
      expect(x.code).toBe(1);
      expect(x.stderr.trim().split('\n')).toHaveLength(1);
      expect(x.stderr).toContain(`cannot reach Redis at ${down}: connect ECONNREFUSED`);
    }
    expect(existsSync(path.join(dir, 'down'))).toBe(false);
  });
});
