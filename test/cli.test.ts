import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHODS } from '../src/learning/estimators/registry.js';
import { main, spikelr, spikelrWith } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-cli-'));

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

  it('SPIKELR_RELAXED_SIMD=0 loads the SIMD kernels without fused multiply–add; a value other than 0 or 1 is refused by name', async () => {
    const plain = await spikelrWith({ SPIKELR_RELAXED_SIMD: '0' }, 'info');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/ok\s+wasm: WebAssembly with SIMD\n/);
    const wrong = await spikelrWith({ SPIKELR_RELAXED_SIMD: 'yes' }, 'info');
    expect(wrong.stdout + wrong.stderr).toMatch(/SPIKELR_RELAXED_SIMD must be 0 or 1, got 'yes'/);
  });

  it('simulate runs MNIST digits through a network, saves it, and reloads it with the same result', async () => {
    const file = path.join(dir, 'net.safetensors');
    const a = await spikelr(
      'simulate',
      '--hidden',
      '40',
      '--batch',
      '16',
      '--steps',
      '8',
      '--repeat',
      '1',
      '--noise',
      'gaussian:0.3',
      '--save',
      file,
      '--json',
    );
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

  it("train --pipeline 2 runs LR's layers on two threads, reproducibly from the seed", async () => {
    const runs = ['a', 'b'].map((n) => path.join(dir, `lr-pipeline-${n}`));
    for (const out of runs) {
      const r = await spikelr(
        'train',
        '--method',
        'lr',
        ...small,
        '--hidden',
        '16,12',
        '--copies',
        '2',
        '--max-steps',
        '3',
        '--pipeline',
        '2',
        '--micro-batches',
        '3',
        '--out',
        out,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'))).toMatchObject({ method: 'lr', steps: 3, stopped: 'max-steps' });
    }
    expect(JSON.parse(readFileSync(path.join(runs[0]!, 'config.json'), 'utf8'))).toMatchObject({ pipeline: 2, microBatches: 3 });
    expect(readFileSync(path.join(runs[1]!, 'model.safetensors')).equals(readFileSync(path.join(runs[0]!, 'model.safetensors')))).toBe(true);
  });

  it("train --time-chunk: LR in time chunks logs the one-pass run's first loss; a bad chunk or another method is refused", async () => {
    const runs = ['whole', 'chunked'].map((n) => path.join(dir, `lr-chunks-${n}`));
    const losses: number[] = [];
    for (const [i, out] of runs.entries()) {
      const r = await spikelr('train', '--method', 'lr', ...small, '--copies', '2', '--max-steps', '1', ...(i ? ['--time-chunk', 'auto'] : []), '--out', out);
      expect(r.code, r.stderr).toBe(0);
      losses.push(
        readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .find((l) => l.type === 'step').loss,
      );
    }
    // the same forward pass (the same noise) and the readout's mean summed in the same order, so the same loss to
    // the bit; the gradients differ by rounding only (test/lr-chunks.test.ts)
    expect(losses[1]).toBe(losses[0]);
    expect(JSON.parse(readFileSync(path.join(runs[1]!, 'config.json'), 'utf8'))).toMatchObject({ timeChunk: 'auto' });
    const bad = await spikelr('train', '--method', 'lr', ...small, '--time-chunk', '0', '--out', path.join(dir, 'lr-chunks-bad'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--time-chunk.*expected a number of steps >= 1, 'auto' or 'none', got '0'/);
    const bptt = await spikelr('train', '--method', 'bptt', ...small, '--time-chunk', '4', '--out', path.join(dir, 'bptt-chunks'));
    expect(bptt.stderr).toMatch(/timeChunk applies to method 'lr'/);
  });

  it('train --loss zero-one: LR trains on the 0-1 loss itself; the methods that differentiate it are stopped before a run starts', async () => {
    const out = path.join(dir, 'lr-zero-one');
    const r = await spikelr('train', '--method', 'lr', '--loss', 'zero-one', ...small, '--copies', '2', '--max-steps', '2', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    // the loss logged is the error rate of the noisy copies: a fraction in [0, 1]
    const steps = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'step');
    expect(steps).toHaveLength(2);
    for (const line of steps) {
      expect(line.loss).toBeGreaterThanOrEqual(0);
      expect(line.loss).toBeLessThanOrEqual(1);
    }
    expect(metrics.steps).toBe(2);
    for (const [method, instead] of [
      ['bptt', /train by LR \(--method lr\)/],
      ['fg', /--tangent finite-difference/],
      ['fg-activity', /--method fg --tangent finite-difference/],
    ] as const) {
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
    const r = await spikelr(
      'train',
      '--method',
      'lr',
      '--decorrelate',
      'all',
      '--decorrelation-rate',
      '0.01',
      ...small,
      '--copies',
      '2',
      '--max-steps',
      '3',
      '--out',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({
      decorrelate: 'all',
      decorrelationRate: 0.01,
      decorrelationCentre: true,
    });
    const header = readFileSync(path.join(out, 'model.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'));
    expect(Object.keys(meta)).toEqual(expect.arrayContaining(['hidden.decorrelation', 'hidden.inputMean', 'out.decorrelation', 'out.inputMean']));
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const e = await spikelr('eval', out);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).accuracy).toBe(metrics.testAccuracy);
    expect((await spikelr('train', '--decorrelate', 'some', ...small, '--out', path.join(dir, 'bad-decor'))).stderr).toMatch(
      /--decorrelate must be one of 'auto', 'none', 'readout', 'hidden', 'deep', 'all', got 'some'/,
    );
  });

  it('train --conv: convolutional spiking layers before the hidden ones, patch-wise decorrelated, evaluated and drawn from the run directory', async () => {
    const out = path.join(dir, 'conv-run');
    const r = await spikelr(
      'train',
      ...small,
      '--method',
      'lr',
      '--conv',
      '4c5-p2-6c3s2',
      '--hidden',
      'none',
      '--decorrelate',
      'hidden',
      '--copies',
      '2',
      '--max-steps',
      '2',
      '--out',
      out,
    );
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
    const text = readFileSync(alone)
      .toString('latin1')
      .replace(/,"headerCrc32":"\d{10}"/, ' '.repeat(27));
    writeFileSync(alone, Buffer.from(text, 'latin1'));
    const e3 = await spikelr('eval', alone);
    expect(JSON.parse(e3.stdout).accuracy).toBe(metrics.testAccuracy);
    expect(e3.stderr).toMatch(/was written before model headers had a checksum; its weights are checked, its header is not/);
  });

  it('train --neuron-equations trains hidden neurons written as equations, keeps them in config.json and the model', async () => {
    const file = path.join(dir, 'adaptive.json');
    const equations = {
      name: 'adaptive',
      equations: { u: 'beta * u + I - w', w: 'rho * w' },
      reset: { u: 'I - w', w: 'rho * w + b' },
      spike: { variable: 'u', threshold: 'theta' },
      parameters: { beta: 0.9, rho: 0.8, b: 0.2, theta: 1 },
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

  it('a run stopped by SIGINT resumes to the same model as a run never stopped', async () => {
    const args = [
      'train',
      '--method',
      'lr',
      '--copies',
      '4',
      '--train-limit',
      '1024',
      '--test-limit',
      '50',
      '--hidden',
      '32',
      '--steps',
      '6',
      '--batch-size',
      '32',
      '--epochs',
      '3',
      '--checkpoint-every',
      '3',
      '--no-progress',
    ];
    const whole = path.join(dir, 'whole'),
      stopped = path.join(dir, 'stopped');
    expect((await spikelr(...args, '--out', whole)).code).toBe(0);
    const child = spawn(process.execPath, [main, ...args, '--out', stopped], {
      env: { ...process.env, SPIKELR_BACKEND: 'wasm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '',
      stdout = '';
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

  describe('bad configs', () => {
    const file = (name: string, text: string) => {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    it.each([
      [
        () => ['train', '--config', file('typo.json', '{"learning_rate": 0.1}')],
        /typo\.json: unknown key 'learning_rate' \(did you mean 'learningRate'\?\); allowed keys are dataset, /,
      ],
      [
        () => ['train', '--config', file('value.json', '{"method": "bp"}')],
        new RegExp(`value\\.json: 'method' must be one of ${METHODS.map((m) => `'${m}'`).join(', ')}, got 'bp'`),
      ],
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
      [
        () => ['train', '--method', 'bptt', '--surrogate', 'formula', '--surrogate-formula', 'exp(-abs(y))'],
        /surrogate formula: unknown variable 'y' in 'exp\(-abs\(y\)\)'; the variables are x/,
      ],
      [() => ['train', '--conv', '8x5'], /command line: --conv has '8x5', which is neither FILTERScKERNEL\[sSTRIDE\] \(a convolution, e\.g\. 8c5\) nor pSIZE/],
      [() => ['train', '--conv', 'p2'], /--conv has no convolution/],
      [
        () => ['train', '--conv', '8c5', '--dataset', 'randman'],
        /conv layers need image input; dataset 'randman' is not one \(use mnist, idx, nmnist, or drop conv\)/,
      ],
      [() => ['train', '--hidden', 'none'], /hidden is empty and there are no conv layers/],
      [() => ['train', '--deploy', 'weights=9,state=8.4'], /option '--deploy <value>' argument 'weights=9,state=8.4' is invalid\. weightBits must be 2–8/],
      [
        () => ['finetune', path.join(dir, 'nothing')],
        /finetune: .*nothing holds no model\.safetensors; give the directory of a run spikelr train completed, or of a model spikelr import wrote/,
      ],
      [() => ['compare', '--methods', 'lr,fa'], new RegExp(`--methods: unknown method 'fa'; expected some of ${METHODS.join(', ')}`)],
      [
        () => ['train', '--method', 'fg', '--hidden', '64,64', '--local-losses', 'each'],
        /localLosses "each": method 'fg' cannot train blocks on local losses \(lr, fg-activity and bptt can\); use localLosses 'none'/,
      ],
      [() => ['train', '--hidden', '64', '--local-losses', 'each'], /localLosses "each" needs two or more hidden or conv layers/],
      [
        () => ['train', '--hidden', '64,64,64', '--local-losses', '1,3'],
        /localLosses \[1,3\]: block boundaries out of range: layer 3 of the 3 conv and hidden layers; a head ends a block on layers 1 to 2/,
      ],
      [
        () => ['train', '--hidden', '64,64', '--local-losses', 'some'],
        /--local-losses must be one of 'auto', 'none', 'each' or a list of the layers that end a block/,
      ],
      [() => ['train', '--hidden', '64,64', '--time-chunk', '5'], /local losses do not run in LR's time chunks yet; drop timeChunk or --local-losses none/],
      [
        () => ['compare', '--train-limit', '64', '--batch-size', '32'],
        /compare: --gradient-batches 4 of --batch-size 32 need 128 training samples, and there are 64; lower either, or raise --train-limit/,
      ],
      [() => ['train', '--encoding', 'rows', '--steps', '10'], /encoding 'rows' has one step per image row: MNIST needs steps 28, got 10/],
      [() => ['compare', '--epsilons', '0,2'], /option '--epsilons <list>' argument '0,2' is invalid\. expected numbers in \[0, 1\]/],
    ])('rejects bad config %#', async (args, message) => {
      const r = await spikelr(...args());
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  });
});
