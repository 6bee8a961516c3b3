import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHODS } from '../src/learning/estimators/registry.js';
import { encodeIdx } from '../src/data/idx.js';

const run = promisify(execFile);
const main = path.resolve('dist/src/cli/main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-cli-'));

async function spikelr(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...args], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the spikelr command', () => {
  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build; npm test does it)`);
  });

  it('info names the backend, what was tried and the versions', async () => {
    const r = await spikelr('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend: wasm \(requested wasm via SPIKELR_BACKEND\)/);
    expect(r.stdout).toMatch(/ok\s+wasm: WebAssembly with SIMD/);
    expect(r.stdout).toMatch(/@tensorflow\/tfjs: 4\.22\.0/);
  });

  it('simulate runs MNIST digits through a network, saves it, and reloads it with the same result', async () => {
    const file = path.join(dir, 'net.safetensors');
    const a = await spikelr('simulate', '--hidden', '40', '--batch', '16', '--steps', '8', '--repeat', '1', '--noise', 'gaussian:0.3', '--save', file, '--json');
    expect(a.code).toBe(0);
    expect(a.stderr).toMatch(/^spikelr: backend wasm/m);
    const first = JSON.parse(a.stdout);
    expect(first).toMatchObject({ network: '784-40-10', backend: 'wasm', batch: 16, steps: 8 });
    expect(first.firingRate.hidden).toBeGreaterThan(0);
    const b = await spikelr('simulate', '--model', file, '--batch', '16', '--steps', '8', '--repeat', '1', '--noise', 'gaussian:0.3', '--json');
    expect(JSON.parse(b.stdout).firingRate).toEqual(first.firingRate);
    expect(JSON.parse(b.stdout).accuracy).toEqual(first.accuracy);
  });

  it.each([
    [['simulate', '--beta', '1.5'], /spikelr: error: lif: beta must be in \[0, 1\], got 1.5/],
    [['simulate', '--threshold', '0'], /spikelr: error: lif: threshold must be > 0, got 0/],
    [['simulate', '--reset', 'soft'], /option '--reset <mode>' argument 'soft' is invalid. Allowed choices are subtract, zero, none/],
    [['simulate', '--hidden', 'many'], /option '--hidden <n>' argument 'many' is invalid. expected an integer >= 1, got 'many'/],
    [['simulate', '--noise', 'cauchy:1'], /expected KIND:SIGMA with KIND one of gaussian, logistic, laplace/],
    [['--backend', 'gpu', 'info'], /option '--backend <name>' argument 'gpu' is invalid. Allowed choices are auto, tensorflow, wasm, cpu/],
    [['simulate', '--model', 'nowhere.safetensors'], /spikelr: error: nowhere.safetensors: no such model file/],
  ])('rejects %j with a message naming the problem and no stack trace', async (args, message) => {
    const r = await spikelr(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('spikelr train and eval', () => {
  const small = ['--train-limit', '256', '--test-limit', '100', '--hidden', '16', '--steps', '5', '--batch-size', '32', '--no-progress'];
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('train --workers 1 shards every batch over a worker thread, and exits when done', async () => {
    const out = path.join(dir, 'lr-workers');
    const r = await spikelr('train', '--method', 'lr', ...small, '--copies', '2', '--max-steps', '3', '--workers', '1', '--out', out);
    expect(r.code).toBe(0);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ method: 'lr', steps: 3, stopped: 'max-steps' });
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ workers: 1 });
  });

  it('train --loss zero-one: LR trains on the 0-1 loss itself; the methods that differentiate it are stopped before a run starts', async () => {
    const out = path.join(dir, 'lr-zero-one');
    const r = await spikelr('train', '--method', 'lr', '--loss', 'zero-one', ...small, '--copies', '2', '--max-steps', '2', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    // the loss logged is the error rate of the noisy copies: a fraction in [0, 1]
    const steps = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
    expect(steps).toHaveLength(2);
    for (const line of steps) expect(line.loss).toBeGreaterThanOrEqual(0), expect(line.loss).toBeLessThanOrEqual(1);
    expect(metrics.steps).toBe(2);
    for (const [method, instead] of [['bptt', /train by LR \(--method lr\)/], ['fg', /--tangent finite-difference/], ['fg-activity', /--method fg --tangent finite-difference/]] as const) {
      const bad = path.join(dir, `zero-one-${method}`);
      const e = await spikelr('train', '--method', method, '--loss', 'zero-one', ...small, '--out', bad);
      expect(e.code).toBe(1);
      expect(e.stderr).toMatch(new RegExp(`--method ${method}: the loss has no derivative`));
      expect(e.stderr).toMatch(instead);
      expect(existsSync(bad)).toBe(false); // nothing written
    }
  });

  it('train --decorrelate all: every layer learns its R, which the model file keeps and eval uses', async () => {
    const out = path.join(dir, 'lr-decorrelated');
    const r = await spikelr('train', '--method', 'lr', '--decorrelate', 'all', '--decorrelation-rate', '0.01', ...small, '--copies', '2', '--max-steps', '3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ decorrelate: 'all', decorrelationRate: 0.01, decorrelationCentre: true });
    const header = readFileSync(path.join(out, 'model.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'));
    expect(Object.keys(meta)).toEqual(expect.arrayContaining(['hidden.decorrelation', 'hidden.inputMean', 'out.decorrelation', 'out.inputMean']));
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const e = await spikelr('eval', out);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).accuracy).toBe(metrics.testAccuracy);
    expect((await spikelr('train', '--decorrelate', 'some', ...small, '--out', path.join(dir, 'bad-decor'))).stderr).toMatch(/--decorrelate must be one of 'none', 'readout', 'hidden', 'all', got 'some'/);
  });

  it('train --conv: convolutional spiking layers before the hidden ones, patch-wise decorrelated, evaluated and drawn from the run directory', async () => {
    const out = path.join(dir, 'conv-run');
    const r = await spikelr('train', ...small, '--method', 'lr', '--conv', '4c5-p2-6c3s2', '--hidden', 'none', '--decorrelate', 'hidden', '--copies', '2', '--max-steps', '2', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const header = readFileSync(path.join(out, 'model.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'));
    // 28 → 5×5 valid: 24, pooled: 12, 3×3 stride 2 valid: (12 − 3) / 2 + 1 = 5; readout from 5·5·6 = 150
    expect(meta['conv1.weight'].shape).toEqual([5, 5, 1, 4]);
    expect(meta['conv2.weight'].shape).toEqual([3, 3, 4, 6]);
    expect(meta['conv1.decorrelation'].shape).toEqual([25, 25]); // one 5·5·1 patch
    expect(meta['conv2.decorrelation'].shape).toEqual([36, 36]);
    expect(meta['out.weight'].shape).toEqual([150, 10]);
    expect(meta['out.decorrelation']).toBeUndefined(); // 'hidden' leaves the readout's input alone
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const e = await spikelr('eval', out);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).accuracy).toBe(metrics.testAccuracy);
    const svg = path.join(dir, 'conv-raster.svg');
    expect((await spikelr('raster', out, '--svg', svg)).code).toBe(0);
    expect(readFileSync(svg, 'utf8')).toContain('conv1');
  });

  it('train writes a run directory whose metrics.json eval reproduces', async () => {
    const out = path.join(dir, 'bptt-run');
    const started = performance.now();
    const r = await spikelr('train', '--method', 'bptt', ...small, '--out', out);
    const wall = (performance.now() - started) / 1000;
    expect(r.code).toBe(0);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ method: 'bptt', dataset: 'mnist', steps: 8, stopped: 'completed' });
    for (const key of ['testAccuracy', 'trainSeconds', 'samplesPerSecond', 'peakTensorBytes']) expect(metrics[key]).toBeGreaterThan(0);
    // the clock outside the process bounds the training time inside it; one epoch sees all 256 samples
    expect(metrics.trainSeconds).toBeLessThan(wall);
    expect(metrics.samplesPerSecond).toBeGreaterThan(256 / wall);
    expect(metrics.samplesPerSecond * metrics.trainSeconds).toBeCloseTo(256, 6);
    for (const f of ['config.json', 'metrics.jsonl', 'checkpoint.safetensors', 'model.safetensors']) expect(existsSync(path.join(out, f))).toBe(true);
    const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ method: 'bptt', hidden: [16], steps: 5, encoding: 'rate', beta: 0.95 });
    const e = await spikelr('eval', out);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ accuracy: metrics.testAccuracy, samples: 100 });
    const again = await spikelr('train', '--method', 'bptt', ...small, '--out', out);
    expect(again.stderr).toMatch(/already holds a run; continue it with --resume/);
    // the model file alone carries its recipe (5 rate-coded steps, 100 test digits; the defaults are LR's 10 direct steps)
    const alone = path.join(dir, 'bptt-model-alone.safetensors');
    writeFileSync(alone, readFileSync(path.join(out, 'model.safetensors')));
    const e2 = await spikelr('eval', alone);
    expect(e2.code, e2.stderr).toBe(0);
    expect(JSON.parse(e2.stdout)).toMatchObject({ accuracy: metrics.testAccuracy, samples: 100 });
    // a file from before the header checksum (the field blanked out) still evaluates, with a notice
    const text = readFileSync(alone).toString('latin1').replace(/,"headerCrc32":"\d{10}"/, ' '.repeat(27));
    writeFileSync(alone, Buffer.from(text, 'latin1'));
    const e3 = await spikelr('eval', alone);
    expect(JSON.parse(e3.stdout).accuracy).toBe(metrics.testAccuracy);
    expect(e3.stderr).toMatch(/was written before model headers had a checksum; its weights are checked, its header is not/);
  });

  it('train --neuron-equations trains hidden neurons written as equations, keeps them in config.json and the model', async () => {
    const file = path.join(dir, 'adaptive.json');
    const equations = {
      name: 'adaptive', equations: { u: 'beta * u + I - w', w: 'rho * w' }, reset: { u: 'I - w', w: 'rho * w + b' },
      spike: { variable: 'u', threshold: 'theta' }, parameters: { beta: 0.9, rho: 0.8, b: 0.2, theta: 1 },
    };
    writeFileSync(file, JSON.stringify(equations));
    const out = path.join(dir, 'equations');
    const r = await spikelr('train', '--method', 'lr', ...small, '--copies', '2', '--max-steps', '4', '--neuron-equations', file, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).neuronEquations).toEqual(equations);
    const e = await spikelr('eval', path.join(out, 'model.safetensors'), '--steps', '5', '--test-limit', '100');
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).accuracy).toBe(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')).testAccuracy);
  });

  it.each([
    [['train', '--method', 'sgd'], new RegExp(`--method must be one of ${METHODS.map((m) => `'${m}'`).join(', ')}, got 'sgd'`)],
    [['compare', '--methods', 'lr,hebb'], new RegExp(`--methods: unknown method 'hebb'; expected some of ${METHODS.join(', ')}`)],
    [['train', '--neuron-equations', 'missing.json'], /missing\.json: no such neuron equations file/],
  ])('rejects %j, naming the registered choices', async (args, message) => {
    const r = await spikelr(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('a bad equations file names the file and the mistake', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ equations: { u: 'beta * u + I + q' }, spike: { variable: 'u', threshold: 1 }, parameters: { beta: 0.9 } }));
    const r = await spikelr('train', '--neuron-equations', file, ...small);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.json: .*unknown variable 'q'/);
  });

  describe('a run directory describes exactly one run', () => {
    const runArgs = ['train', '--method', 'bptt', '--train-limit', '256', '--test-limit', '50', '--steps', '5', '--batch-size', '32', '--no-progress'];
    const files = (d: string) => Object.fromEntries(['config.json', 'metrics.jsonl', 'metrics.json', 'checkpoint.safetensors', 'model.safetensors'].map((f) => [f, existsSync(path.join(d, f)) ? readFileSync(path.join(d, f)) : undefined]));

    it('--force replaces the earlier run: none of its files survive, and a forced start that fails its checks leaves it whole', async () => {
      const out = path.join(dir, 'forced');
      expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '2', '--out', out)).code).toBe(0);
      const before = files(out);
      // a bad data folder is found before the directory is touched
      const bad = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', path.join(dir, 'no-such-data'), '--force', '--out', out);
      expect(bad.code).toBe(1);
      expect(files(out)).toEqual(before);
      // a new run with another network, killed before its first checkpoint, then resumed: it starts
      // again from its own config and ends where a clean run of that config ends, byte for byte
      const args = [...runArgs, '--hidden', '12', '--epochs', '6', '--checkpoint-every', '100000', '--force'];
      const child = spawn(process.execPath, [main, ...args, '--out', out], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const read = (f: string) => { try { return readFileSync(path.join(out, f), 'utf8'); } catch { return ''; } };
      // until the new run (its config says 12 units) has logged a step
      while (!/"hidden": \[\s*12\s*\]/.test(read('config.json')) || !/"type":"step"/.test(read('metrics.jsonl'))) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await exited;
      expect(stderr).toMatch(/--force: removed the earlier run's files from/);
      expect(existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(false); // the old run's is gone, the new one wrote none yet
      expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
      expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).hidden).toEqual([12]);
      const resumed = await spikelr('train', '--resume', out, '--no-progress');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/stopped before its first checkpoint; starting it again from its config\.json/);
      const clean = path.join(dir, 'forced-clean');
      expect((await spikelr(...args, '--out', clean)).code).toBe(0);
      expect(readFileSync(path.join(out, 'model.safetensors')).equals(readFileSync(path.join(clean, 'model.safetensors')))).toBe(true);
      const log = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
      expect(log).not.toContain('\u0000');
      // the same records as the clean run's, but for the wall-clock times
      const untimed = (t: string) => t.replace(/"(seconds|trainSeconds)":[0-9.e+-]+/g, '"$1":0');
      expect(untimed(log)).toBe(untimed(readFileSync(path.join(clean, 'metrics.jsonl'), 'utf8')));
      expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')).history).toHaveLength(6);
    }, 120_000);

    it('bad data is found before anything is written: a misspelt data folder, train and test images of different sizes', async () => {
      const fresh = path.join(dir, 'never-written');
      const r = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', path.join(dir, 'no-such-data'), '--out', fresh);
      expect(r.code).toBe(1);
      expect(existsSync(path.join(fresh, 'config.json'))).toBe(false); // so a corrected command needs neither --resume nor --force
      const data = path.join(dir, 'mixed-idx');
      mkdirSync(data);
      const images = (n: number, side: number) => encodeIdx('uint8', [n, side, side], new Uint8Array(n * side * side).fill(7));
      writeFileSync(path.join(data, 'train-images-idx3-ubyte'), images(64, 28));
      writeFileSync(path.join(data, 'train-labels-idx1-ubyte'), encodeIdx('uint8', [64], Array.from({ length: 64 }, (_, i) => i % 10)));
      writeFileSync(path.join(data, 't10k-images-idx3-ubyte'), images(16, 20));
      writeFileSync(path.join(data, 't10k-labels-idx1-ubyte'), encodeIdx('uint8', [16], Array.from({ length: 16 }, (_, i) => i % 10)));
      const mixed = await spikelr(...runArgs, '--dataset', 'idx', '--data-dir', data, '--out', path.join(dir, 'mixed-run'));
      expect(mixed.code).toBe(1);
      expect(mixed.stderr).toMatch(/idx: the training samples are 784 per step but the test samples 400; both splits must come from one dataset/);
      expect(existsSync(path.join(dir, 'mixed-run', 'config.json'))).toBe(false);
    });

    it('npm test\'s set-up step installs the Debian packages it needs, or says in one line how to', async () => {
      // no apt-get and no chromium: the line names the package and the command
      const bin = path.join(dir, 'bin-without-apt');
      mkdirSync(bin);
      symlinkSync('/usr/bin/id', path.join(bin, 'id'));
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('/bin/bash', ['scripts/system-deps.sh'], { env: { PATH: bin, CHROMIUM_PATH: path.join(dir, 'no-chromium') } });
        let out = '';
        child.stdout.on('data', (d) => (out += String(d)));
        child.stderr.on('data', (d) => (out += String(d)));
        child.on('exit', (code) => resolve({ code, out }));
      });
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe('spikelr tests: chromium missing; the tests that need them will fail. Install with: sudo apt-get install chromium');
    });

    it('a run stopped by --max-steps says so, and resuming it changes nothing it recorded', async () => {
      const out = path.join(dir, 'max-steps');
      // 256 / 32 = 8 steps an epoch: 10 steps end in the second of 3 epochs
      expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '3', '--max-steps', '10', '--out', out)).code).toBe(0);
      const before = files(out);
      const metrics = JSON.parse(before['metrics.json']!.toString('utf8'));
      expect(metrics).toMatchObject({ stopped: 'max-steps', steps: 10 });
      expect(metrics.history.map((h: { steps: number }) => h.steps)).toEqual([8, 10]);
      const again = await spikelr('train', '--resume', out, '--no-progress');
      expect(again.code, again.stderr).toBe(0);
      expect(files(out)).toEqual(before);
      // one epoch cut short is stopped by max-steps too, not completed
      const one = path.join(dir, 'max-steps-1');
      expect((await spikelr(...runArgs, '--hidden', '16', '--epochs', '1', '--max-steps', '3', '--out', one)).code).toBe(0);
      expect(JSON.parse(readFileSync(path.join(one, 'metrics.json'), 'utf8'))).toMatchObject({ stopped: 'max-steps', steps: 3 });
    }, 60_000);

    it('a diverging run stops with its last good checkpoint and says what to lower', async () => {
      const out = path.join(dir, 'diverged');
      // Adam at 10 sends BPTT's cross-entropy from 2.3 to ~100 within a few steps: finite, so only the rise shows it
      const r = await spikelr(...runArgs, '--hidden', '16', '--epochs', '4', '--learning-rate', '10', '--checkpoint-every', '4', '--out', out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/training diverged at step (\d+): the mean loss of the last 10 steps, [0-9.e+]+, is over 10× the initial 2\.3\d\. The last checkpoint \(written every 4 steps\) is kept and no model was written; lower the learning rate \(now 10\): --learning-rate, then start again with --force/);
      const at = Number(/diverged at step (\d+)/.exec(r.stderr)![1]);
      expect(existsSync(path.join(out, 'model.safetensors'))).toBe(false);
      expect(existsSync(path.join(out, 'metrics.json'))).toBe(false);
      const header = readFileSync(path.join(out, 'checkpoint.safetensors'));
      const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'))['__metadata__'];
      expect(JSON.parse(meta.trainer).step).toBe(Math.floor((at - 1) / 4) * 4); // the last one before the diverged step
      // the same recipe at the default rate does not trip the check
      const ok = await spikelr(...runArgs, '--hidden', '16', '--epochs', '4', '--out', path.join(dir, 'not-diverged'));
      expect(ok.code, ok.stderr).toBe(0);
    }, 60_000);

    it('file-system failures are one line naming the path and the cause, exit 1', async () => {
      const file = path.join(dir, 'a-file');
      writeFileSync(file, 'x');
      const r = await spikelr(...runArgs, '--hidden', '8', '--max-steps', '1', '--out', path.join(file, 'run'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/spikelr: error: cannot create the directory .*a-file\/run: a part of the path is a file, not a directory \(ENOTDIR\)/);
      expect(r.stderr).not.toMatch(/internal error|    at /);
      const empty = await spikelr(...runArgs, '--out', '');
      expect(empty.code).toBe(1);
      expect(empty.stderr).toMatch(/--out is empty; give the run directory/);
      const svg = await spikelr('raster', path.join(dir, 'max-steps'), '--svg', path.join(dir, 'no-such-folder', 'r.svg'));
      expect(svg.code).toBe(1);
      expect(svg.stderr).toMatch(/cannot open .*no-such-folder\/r\.svg: no such file or directory \(ENOENT\)/);
    }, 60_000);

    it('an unknown option is a short error with the nearest option, not the whole help', async () => {
      const r = await spikelr('train', '--learning-rat', '3');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unknown option '--learning-rat'\n\(Did you mean --learning-rate\?\)/);
      expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
    });
  });

  it('a run stopped by SIGINT resumes to the same model as a run never stopped', async () => {
    const args = ['train', '--method', 'lr', '--copies', '4', '--train-limit', '1024', '--test-limit', '50', '--hidden', '32', '--steps', '6', '--batch-size', '32', '--epochs', '3', '--checkpoint-every', '3', '--no-progress'];
    const whole = path.join(dir, 'whole'), stopped = path.join(dir, 'stopped');
    expect((await spikelr(...args, '--out', whole)).code).toBe(0);
    const child = spawn(process.execPath, [main, ...args, '--out', stopped], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdout.on('data', (d) => (stdout += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!existsSync(path.join(stopped, 'checkpoint.safetensors'))) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping after this step and writing a checkpoint/);
    expect(JSON.parse(stdout)).toMatchObject({ stopped: 'aborted', testAccuracy: null }); // no final model, so no accuracy
    expect(existsSync(path.join(stopped, 'metrics.json'))).toBe(false);
    expect((await spikelr('train', '--resume', stopped, '--steps', '7')).stderr).toMatch(/--resume continues a run with its own config\.json; drop --steps/);
    const resumed = await spikelr('train', '--resume', stopped, '--no-progress');
    expect(resumed.code).toBe(0);
    expect(readFileSync(path.join(stopped, 'model.safetensors')).equals(readFileSync(path.join(whole, 'model.safetensors')))).toBe(true);
  });

  it('compare trains both methods from one initialisation and reports gradients and robustness', async () => {
    const out = path.join(dir, 'compare');
    const r = await spikelr('compare', '--epochs', '1', '--train-limit', '300', '--test-limit', '100', '--hidden', '16', '--gradient-batches', '2', '--copies-sweep', '2,8', '--attack-samples', '50', '--epsilons', '0,0.1', '--noise-levels', '0.2', '--pgd-iterations', '3', '--out', out, '--no-progress');
    expect(r.code).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(c.methods).toEqual(['lr', 'bptt']);
    for (const m of ['lr', 'bptt']) {
      expect(c.runs[m]).toMatchObject({ method: m, steps: 3, stopped: 'completed' });
      expect(c.runs[m].history).toHaveLength(1);
      expect(JSON.parse(readFileSync(path.join(out, m, 'config.json'), 'utf8')).hidden).toEqual([16]);
    }
    expect(c.gradients.initial.map((l: { parameter: string }) => l.parameter)).toEqual(['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']);
    // an average of K independent copies: 4× the copies, a quarter of the hidden layer's variance
    // (± the spread of 4 draws) and a cosine to BPTT's gradient that rises
    const [k2, k8] = c.gradients.sweeps.lr as { cosine: { mean: number }; layers: Record<string, { variance: number }> }[];
    const ratio = k2!.layers['hidden']!.variance / k8!.layers['hidden']!.variance;
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan(10);
    expect(k8!.cosine.mean).toBeGreaterThan(k2!.cosine.mean);
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr']);
    expect(c.gradients.sweeps.lr.map((s: { copies: number }) => s.copies)).toEqual([2, 8]);
    // at ε = 0 an attack leaves the images alone: the accuracy is the clean accuracy on those 50 images
    expect(c.robustness.fgsm.lr[0]).toBe(c.robustness.pgd.lr[0]);
    expect(c.robustness.transfer.lrFromBptt[0]).toBe(c.robustness.pgd.lr[0]);
    expect(Object.keys(c.robustness.gaussian)).toEqual(['lr', 'bptt']);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/\| PGD transfer \| bpttFromLr \|/);
  });

  it('compare takes any registered methods and puts each one\'s gradient beside BPTT\'s', async () => {
    const out = path.join(dir, 'compare-fg');
    const r = await spikelr('compare', '--methods', 'bptt,fg-activity', '--directions', '64', '--decorrelate', 'readout', '--decorrelation-warmup', '3', '--epochs', '1', '--max-steps', '2', '--train-limit', '300', '--test-limit', '100', '--hidden', '16', '--gradient-batches', '2', '--copies-sweep', '2', '--attack-samples', '20', '--epsilons', '0', '--noise-levels', '0.2', '--pgd-iterations', '1', '--out', out, '--no-progress');
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(Object.keys(c.runs)).toEqual(['bptt', 'fg-activity']);
    expect(c.gradients.decorrelationWarmup.steps).toBe(3); // R learned before the gradients were compared
    expect(Object.keys(c.gradients.decorrelationWarmup.loss)).toEqual(['out']);
    const rows = c.gradients.methods['fg-activity'] as { parameter: string; mean: number }[];
    expect(rows.map((l) => l.parameter)).toEqual(['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']);
    // an unbiased estimate of the same gradient, 64 directions over 100 samples: close in direction
    for (const l of rows) expect(l.mean, l.parameter).toBeGreaterThan(0.5);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## fg-activity vs BPTT gradient at initialisation/);
    const html = path.join(out, 'report.html');
    expect((await spikelr('report', out, '--out', html)).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/Gradient agreement: fg-activity estimate vs BPTT surrogate gradient/);
    expect(page).toContain(`${rows[0]!.mean.toFixed(3)} ± `);
    // LR and the sampling method swept against K, both in the report's by-method charts
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr', 'fg-activity']);
    expect(c.gradients.sweeps['fg-activity'][0].copies).toBe(2);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## fg-activity against its number of directions K/);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/Decorrelated inputs \(readout; .*\): gradients compared after 3 R-only updates/);
    expect(page).toMatch(/cosine to the BPTT gradient against K, by method/);
    expect(page).toContain('fg-activity (directions)');
  });

  it('compare --decorrelate none,all runs every method with and without decorrelation, side by side', async () => {
    const out = path.join(dir, 'compare-decor');
    const common = ['--epochs', '1', '--train-limit', '300', '--test-limit', '100', '--hidden', '16', '--seed', '3'];
    const r = await spikelr('compare', ...common, '--decorrelate', 'none,all', '--decorrelation-warmup', '3', '--gradient-batches', '2', '--copies-sweep', '2,8', '--sweep-draws', '2', '--attack-samples', '20', '--epsilons', '0', '--noise-levels', '0.2', '--pgd-iterations', '1', '--out', out, '--no-progress');
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'));
    expect(c.methods).toEqual(['lr', 'bptt', 'lr+decor', 'bptt+decor']);
    expect(c.arms['lr+decor']).toEqual({ method: 'lr', decorrelate: 'all' });
    for (const arm of c.methods) expect(JSON.parse(readFileSync(path.join(out, arm, 'config.json'), 'utf8')).decorrelate, arm).toBe(arm.includes('+decor') ? 'all' : 'none');
    // each arm is the run spikelr train makes from the same config: the same weights, byte for byte
    const alone = path.join(dir, 'decor-alone');
    expect((await spikelr('train', '--method', 'lr', ...common, '--decorrelate', 'all', '--out', alone, '--no-progress')).code).toBe(0);
    expect(readFileSync(path.join(out, 'lr+decor', 'model.safetensors')).equals(readFileSync(path.join(alone, 'model.safetensors')))).toBe(true);
    // the gradients of both variants: LR's against each network's own BPTT gradient, K sweeps by arm
    expect(Object.keys(c.gradients.sweeps)).toEqual(['lr', 'lr+decor']);
    expect(c.gradients.methods['lr+decor'].map((l: { parameter: string }) => l.parameter)).toEqual(c.gradients.initial.map((l: { parameter: string }) => l.parameter));
    expect(Object.keys(c.gradients.decorrelationWarmups)).toEqual(['all']);
    expect(Object.keys(c.gradients.trainedArms)).toEqual(['lr+decor']);
    expect(Object.keys(c.robustness.gaussian)).toEqual(c.methods);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/Decorrelated inputs \(all; .*in the arms named \+decor \(lr\+decor, bptt\+decor\): gradients compared after 3 R-only updates/);
    expect(md).toMatch(/## lr\+decor against its number of copies K/);
    const html = path.join(out, 'report.html');
    expect((await spikelr('report', out, '--out', html)).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('hidden: variance of one estimate against K');
    expect(page).toContain('lr+decor (copies)');
    expect((await spikelr('compare', '--decorrelate', 'none,some')).stderr).toMatch(/--decorrelate: unknown value 'some'; expected one or more of none, readout, hidden, all/);
  });

  describe('bad configs', () => {
    const file = (name: string, text: string) => {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    it.each([
      [() => ['train', '--config', file('typo.json', '{"learning_rate": 0.1}')], /typo\.json: unknown key 'learning_rate' \(did you mean 'learningRate'\?\); allowed keys are dataset, /],
      [() => ['train', '--config', file('value.json', '{"method": "bp"}')], new RegExp(`value\\.json: 'method' must be one of ${METHODS.map((m) => `'${m}'`).join(', ')}, got 'bp'`)],
      [() => ['train', '--config', file('range.json', '{"beta": 1.5}')], /range\.json: 'beta' must be a number in \[0, 1\], got 1\.5/],
      [() => ['train', '--config', file('broken.json', '{"epochs": 2,}')], /broken\.json: not valid JSON/],
      [() => ['train', '--config', file('array.json', '[1, 2]')], /array\.json: a config must be a JSON object/],
      [() => ['train', '--config', path.join(dir, 'missing.json')], /missing\.json: no such config file/],
      [() => ['train', '--epochs', '0'], /command line: --epochs must be an integer >= 1, got 0/],
      [() => ['train', '--hidden', '10,x'], /option '--hidden <value>' argument '10,x' is invalid\. expected positive integers/],
      [() => ['train', '--noise', 'cauchy:1'], /--noise must be KIND:SIGMA with KIND one of gaussian, logistic, laplace/],
      [() => ['train', '--schedule', '2 * stpe'], /learning-rate schedule '2 \* stpe': unknown variable 'stpe'/],
      [() => ['train', '--patience', '3'], /patience \(early stopping\) needs a validation split/],
      [() => ['train', '--accuracy', 'first-spike'], /accuracy 'first-spike' needs a spiking output layer: use loss 'ce-count' or 'mse-count'/],
      [() => ['train', '--dataset', 'shd'], /dataset 'shd' needs dataDir/],
      [() => ['train', '--resume', path.join(dir, 'nothing')], /--resume .*nothing: no config\.json there/],
      [() => ['train', '--method', 'bptt', '--surrogate', 'formula', '--surrogate-formula', 'exp(-abs(y))'], /surrogate formula: unknown variable 'y' in 'exp\(-abs\(y\)\)'; the variables are x/],
      [() => ['train', '--conv', '8x5'], /command line: --conv has '8x5', which is neither FILTERScKERNEL\[sSTRIDE\] \(a convolution, e\.g\. 8c5\) nor pSIZE/],
      [() => ['train', '--conv', 'p2'], /--conv has no convolution/],
      [() => ['train', '--conv', '8c5', '--dataset', 'randman'], /conv layers need image input; dataset 'randman' is not one \(use mnist, idx, nmnist, or drop conv\)/],
      [() => ['train', '--hidden', 'none'], /hidden is empty and there are no conv layers/],
      [() => ['compare', '--methods', 'lr,fa'], new RegExp(`--methods: unknown method 'fa'; expected some of ${METHODS.join(', ')}`)],
      [() => ['compare', '--epsilons', '0,2'], /option '--epsilons <list>' argument '0,2' is invalid\. expected numbers in \[0, 1\]/],
    ])('rejects bad config %#', async (args, message) => {
      const r = await spikelr(...args());
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  });
});
