/**
 * The web build in headless Chromium (Debian's chromium, driven by playwright-core), with the GPU
 * backends rendered in software (SwiftShader: WebGL 2 through ANGLE, WebGPU through Vulkan): the
 * bundle npm test builds (dist/web/, `npm run build:web`) loads from file:// with no console error,
 * chooses its backend as `auto` says, and passes the backend self-checks (src/checks.ts: LIF
 * against the float64 recurrence, LR against the exact gradient, BPTT against finite differences)
 * on webgl, webgpu and cpu.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const page = pathToFileURL(path.resolve('dist/web/check.html')).href;

describe('spikelr in a web page (headless Chromium, GPU in software)', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
    if (!existsSync(path.resolve('dist/web/spikelr.js'))) throw new Error('dist/web/spikelr.js is missing: npm test builds it (npm run build:web)');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--enable-unsafe-swiftshader', '--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-features=Vulkan', '--use-vulkan=swiftshader'] });
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
    await tab.waitForFunction(() => ['done', 'error'].includes((globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset['state'] ?? ''), undefined, { timeout: 120_000 });
    return { tab, errors };
  }

  it('auto takes the GPU (WebGPU first), and says so', async () => {
    const { tab, errors } = await open('auto');
    expect(await tab.textContent('#backend')).toMatch(/^spikelr: backend webgpu \(WebGPU; auto\)/);
    expect(errors).toEqual([]);
    await tab.close();
  }, 180_000);

  it.each(['webgl', 'webgpu', 'cpu'])('the backend checks pass on %s, with no console error', async (backend) => {
    const { tab, errors } = await open(backend);
    const state = await tab.evaluate(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset);
    expect(state['state'], await tab.textContent('#backend') ?? '').toBe('done');
    expect(state['backend']).toBe(backend);
    if (backend === 'webgl') expect(await tab.textContent('#backend')).toMatch(/WebGL 2 on .*SwiftShader/);
    const results = (await tab.evaluate(() => (globalThis as unknown as { checkResults: { name: string; ok: boolean; detail: string; backend: string }[] }).checkResults));
    expect(results.map((r) => r.name)).toEqual(['lif', 'lr-unbiased', 'bptt-gradient']);
    for (const r of results) {
      expect(r.ok, `${backend} ${r.name}: ${r.detail}`).toBe(true);
      expect(r.backend).toBe(backend);
    }
    // the table shows what the checks returned
    expect(await tab.locator('tr[data-ok="true"]').count()).toBe(3);
    expect(errors).toEqual([]);
    await tab.close();
  }, 180_000);
});
