/**
 * The web build in headless Chromium (Debian's chromium, driven by playwright-core), with the GPU
 * backends rendered in software (SwiftShader: WebGL 2 through ANGLE, WebGPU through Vulkan): the
 * bundle npm test builds (dist/web/, `npm run build:web`) loads from file:// with no console error,
 * chooses its backend as `auto` says, and passes the backend self-checks (src/learning/checks.ts: LIF
 * against the float64 recurrence, LR against the exact gradient, BPTT against finite differences)
 * on webgl, webgpu and cpu; and the playground page (web/index.html) trains by LR and by BPTT on
 * webgl with a falling loss, draws the raster of the spikes it recorded, refuses bad settings with a
 * message, and hands over a model that `spikelr eval` scores as the page did.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const page = pathToFileURL(path.resolve('dist/web/check.html')).href;
const playground = pathToFileURL(path.resolve('dist/web/index.html')).href;
const run = promisify(execFile);

describe('spikelr in a web page (headless Chromium, GPU in software)', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
    if (!existsSync(path.resolve('dist/web/spikelr.js'))) throw new Error('dist/web/spikelr.js is missing: npm test builds it (npm run build:web)');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--enable-unsafe-swiftshader',
        '--enable-unsafe-webgpu',
        '--use-angle=swiftshader',
        '--enable-features=Vulkan',
        '--use-vulkan=swiftshader',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function open(backend: string): Promise<{ tab: Page; errors: string[] }> {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`${page}?backend=${backend}`);
    await tab.waitForFunction(
      () =>
        ['done', 'error'].includes((globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset['state'] ?? ''),
      undefined,
      { timeout: 120_000 },
    );
    return { tab, errors };
  }

  it('auto takes a GPU only when one is behind it: here (SwiftShader, from file://) WebGL, and says why', async () => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(playground);
    await tab.waitForFunction(() => (globalThis as unknown as { playground: { state: string } }).playground.state !== 'loading', undefined, {
      timeout: 120_000,
    });
    const notice = (await tab.textContent('#status')) ?? '';
    // the software WebGPU adapter and WebGL renderer come after wasm, which a file:// page cannot fetch
    expect(notice).toMatch(
      /^spikelr: backend webgl \(WebGL 2 on .*SwiftShader.*; auto; skipped webgpu: software rendering \(WebGPU on .*swiftshader.*\), tried after wasm, wasm: its \.wasm files cannot be fetched by a page opened from file:\/\//i,
    );
    expect(errors).toEqual([]);
    await tab.close();
  }, 180_000);

  it('served over http, auto takes wasm before the software GPUs', async () => {
    const root = path.resolve('dist/web');
    const server = http.createServer((req, res) => {
      const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
      readFile(file).then(
        (body) => {
          res.writeHead(200, { 'content-type': file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.js') ? 'text/javascript' : 'text/html' });
          res.end(body);
        },
        () => {
          res.writeHead(404);
          res.end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    try {
      await tab.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/index.html`);
      await tab.waitForFunction(() => (globalThis as unknown as { playground: { state: string } }).playground.state !== 'loading', undefined, {
        timeout: 120_000,
      });
      expect(await tab.textContent('#status')).toMatch(
        /^spikelr: backend wasm \(WebAssembly with SIMD; auto; skipped webgpu: software rendering .*, webgl: software rendering \(WebGL 2 on .*SwiftShader/,
      );
      expect(errors).toEqual([]);
    } finally {
      await tab.close();
      server.close();
    }
  }, 180_000);

  it.each(['webgl', 'webgpu', 'cpu'])(
    'the backend checks pass on %s, with no console error',
    async (backend) => {
      const { tab, errors } = await open(backend);
      const state = await tab.evaluate(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset);
      expect(state['state'], (await tab.textContent('#backend')) ?? '').toBe('done');
      expect(state['backend']).toBe(backend);
      if (backend === 'webgl') expect(await tab.textContent('#backend')).toMatch(/WebGL 2 on .*SwiftShader/);
      const results = await tab.evaluate(
        () => (globalThis as unknown as { checkResults: { name: string; ok: boolean; detail: string; backend: string }[] }).checkResults,
      );
      expect(results.map((r) => r.name)).toEqual(['lif', 'lr-unbiased', 'lr-constant-input', 'bptt-gradient']);
      for (const r of results) {
        expect(r.ok, `${backend} ${r.name}: ${r.detail}`).toBe(true);
        expect(r.backend).toBe(backend);
      }
      // the table shows what the checks returned
      expect(await tab.locator('tr[data-ok="true"]').count()).toBe(4);
      expect(errors).toEqual([]);
      await tab.close();
    },
    180_000,
  );

  describe('the playground', () => {
    type Run = { name: string; losses: number[]; evals: { step: number; accuracy: number }[] };
    type Dom = { document: { querySelectorAll(s: string): ArrayLike<{ getAttribute(a: string): string | null }> } };
    const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-web-'));
    let tab: Page;
    const errors: string[] = [];
    const state = () => tab.evaluate(() => (globalThis as unknown as { playground: { state: string } }).playground.state);
    const runs = () =>
      tab.evaluate(() =>
        (globalThis as unknown as { playground: { runs: Run[] } }).playground.runs.map((r) => ({ name: r.name, losses: r.losses, evals: r.evals })),
      );
    const trainWith = async (button: string) => {
      await tab.click(button);
      await tab.waitForFunction(() => ['done', 'error'].includes((globalThis as unknown as { playground: { state: string } }).playground.state), undefined, {
        timeout: 240_000,
      });
      expect(await state(), (await tab.textContent('#message')) ?? '').toBe('done');
    };
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    beforeAll(async () => {
      tab = await browser.newPage();
      tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(`${playground}?backend=webgl&hidden=64&batch=32&trainSteps=25&lr=0.003`);
      await tab.waitForFunction(() => (globalThis as unknown as { playground: { state: string } }).playground.state !== 'loading', undefined, {
        timeout: 120_000,
      });
    });
    afterAll(async () => {
      await tab?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('loads with its digits on webgl and says so', async () => {
      expect(await state(), (await tab.textContent('#message')) ?? '').toBe('ready');
      expect(await tab.textContent('#status')).toMatch(/spikelr: backend webgl \(WebGL 2 on [^\n]*\n?ready: 4000 training and 1000 test digits/);
      // every registered learner is offered
      expect(await tab.locator('#method option').evaluateAll((o) => o.map((x) => (x as unknown as { value: string }).value))).toEqual(
        expect.arrayContaining(['lr', 'bptt', 'fg', 'fg-activity']),
      );
    }, 180_000);

    it('trains by LR with a falling loss and draws the raster of the spikes it recorded', async () => {
      await tab.selectOption('#method', 'lr');
      await trainWith('#train');
      const [lr] = await runs();
      expect(lr!.losses).toHaveLength(25);
      expect(mean(lr!.losses.slice(-5))).toBeLessThan(mean(lr!.losses.slice(0, 5)) - 0.3);
      expect(lr!.evals.at(-1)!.accuracy).toBeGreaterThan(0.5);
      // the drawn marks of the hidden layer are the recorded spikes, one for one
      const recorded = await tab.evaluate(() => (globalThis as unknown as { playground: { recording: { spikes: number[][] } } }).playground.recording.spikes);
      const drawn = await tab.evaluate(() =>
        Array.from(
          (globalThis as unknown as Dom).document.querySelectorAll('#raster g.layer[data-layer="hidden"] rect.spike'),
          (r) => `${r.getAttribute('data-t')},${r.getAttribute('data-n')}`,
        ),
      );
      const want = recorded.flatMap((row, t) => row.flatMap((v, n) => (v === 1 ? [`${t},${n}`] : [])));
      expect(want.length).toBeGreaterThan(20);
      expect(new Set(drawn)).toEqual(new Set(want));
      expect(drawn).toHaveLength(want.length);
      expect(await tab.locator('#membranes svg g.trace').count()).toBeGreaterThanOrEqual(4);
      // every temporary freed: the live tensor count after each step (evaluations and rasters included) stays flat
      const live = await tab.evaluate(() => (globalThis as unknown as { playground: { runs: { liveTensors: number[] }[] } }).playground.runs[0]!.liveTensors);
      expect(new Set(live.slice(2)).size, `live tensors per step: ${live.join(' ')}`).toBe(1);
      expect(errors).toEqual([]);
    }, 240_000);

    it('hands over a model that spikelr eval scores as the page did', async () => {
      const [download] = await Promise.all([tab.waitForEvent('download'), tab.click('#download')]);
      const file = path.join(dir, 'page-model.safetensors');
      await download.saveAs(file);
      const shown = (await runs())[0]!.evals.at(-1)!.accuracy;
      const r = await run(
        process.execPath,
        [path.resolve('dist/src/cli/main.js'), 'eval', file, '--steps', '10', '--encoding', 'direct', '--test-limit', '1000'],
        { env: { ...process.env, SPIKELR_BACKEND: 'wasm' } },
      );
      const evaluated = JSON.parse(r.stdout) as { accuracy: number };
      // webgl and wasm round float32 differently: a membrane within rounding of ϑ may flip a spike (2 digits of 1000 allowed)
      expect(Math.abs(evaluated.accuracy - shown), `page ${shown}, spikelr eval ${evaluated.accuracy}`).toBeLessThanOrEqual(0.002);
    }, 120_000);

    it('runs LR and BPTT side by side, both learning', async () => {
      await tab.fill('#trainSteps', '15');
      await trainWith('#compare');
      const both = await runs();
      expect(both.map((r) => r.name)).toEqual(['lr', 'bptt']);
      for (const r of both) {
        expect(r.losses, r.name).toHaveLength(15);
        expect(mean(r.losses.slice(-4)), r.name).toBeLessThan(mean(r.losses.slice(0, 4)));
      }
      expect(errors).toEqual([]);
    }, 240_000);

    it.each([
      ['hidden', '0', /hidden units must be a whole number from 1 to 4096; got '0'/],
      ['copies', '4096', /lr would hold about [\d.]+ GiB a step .* lower K, the batch size, the time steps or the hidden units/],
    ])(
      'bad settings (%s = %s) give a message in the page, which stays responsive',
      async (id, value, why) => {
        const before = await tab.inputValue(`#${id}`);
        await tab.fill(`#${id}`, value);
        if (id === 'copies') await tab.fill('#hidden', '2048');
        await tab.selectOption('#method', 'lr');
        await tab.click('#train');
        expect(await tab.textContent('#message')).toMatch(why);
        expect(await state()).toBe('done');
        await tab.fill(`#${id}`, before);
        await tab.fill('#hidden', '64');
      },
      60_000,
    );
  });
});
describe('spikelr serve', () => {
  it('serves the playground, its digits and the wasm binaries over http, and nothing outside dist/web', async () => {
    const { serve } = await import('../src/cli/serve.js');
    const server = await serve({ port: 0, host: '127.0.0.1', root: path.resolve('dist/web') });
    try {
      const get = (p: string) => fetch(new URL(p, server.url));
      const index = await get('/');
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toMatch(/text\/html/);
      expect(await index.text()).toMatch(/spikelr playground/);
      const wasm = await get('/tfjs-backend-wasm-simd.wasm');
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      expect(new Uint8Array(await wasm.arrayBuffer()).subarray(0, 4)).toEqual(Uint8Array.of(0, 0x61, 0x73, 0x6d)); // \0asm
      expect((await get('/mnist-subset.js')).status).toBe(200);
      expect((await get('/nothing.html')).status).toBe(404);
      // dist/src/index.js exists, one folder up: a path that climbs out stays inside and finds nothing
      expect((await get('/..%2fsrc%2findex.js')).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('says how to build the page when it is missing, and what a port can be', async () => {
    const { serve } = await import('../src/cli/serve.js');
    await expect(serve({ port: 0, host: '127.0.0.1', root: path.resolve('test') })).rejects.toThrow(
      /has no index.html: build the web page first \(npm run build:web\)/,
    );
    await expect(serve({ port: 80000, host: '127.0.0.1' })).rejects.toThrow(/--port must be an integer from 0 to 65535 \(0: any free port\), got 80000/);
  });
});
