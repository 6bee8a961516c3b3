/**
 * End to end: reports of a real train run and a real compare run, opened from disk in headless
 * Chromium (Debian's chromium, driven by playwright-core): no console errors, every chart and
 * raster drawn, the raster's hover names neuron and step. Screenshots go to test-results/.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const main = path.resolve('dist/src/cli/main.js');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-report-'));
const shots = path.resolve('test-results');

const spikelr = (...args: string[]) => run(process.execPath, [main, ...args], { env: { ...process.env, SPIKELR_BACKEND: 'wasm' } });
const small = ['--train-limit', '300', '--test-limit', '100', '--hidden', '24', '--epochs', '2', '--no-progress'];

describe('HTML reports in a browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a report from disk; returns the page and the console errors seen. */
  async function open(file: string) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => !r.url().startsWith('file:') && !r.url().startsWith('data:') && errors.push(`network request: ${r.url()}`));
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 });
    return { page, errors };
  }

  it('a train run: result, curves, raster with hover, membrane traces, firing rates', async () => {
    const runDir = path.join(dir, 'train');
    await spikelr('train', '--method', 'bptt', ...small, '--out', runDir);
    const out = path.join(dir, 'train.html');
    await spikelr('report', runDir, '--out', out);
    const { page, errors } = await open(out);
    expect(await page.locator('svg.line-chart').count()).toBe(5); // 4 epoch curves + loss by step
    expect(await page.locator('.raster-panel').count()).toBe(2); // input and hidden
    expect(await page.locator('svg.membrane .membrane').count()).toBe(4);
    expect(await page.locator('svg.histogram').count()).toBe(1);
    // the top-left corner of the hidden layer's plot is neuron 0 at step 0
    await page.locator('.raster-panel[data-layer="hidden"] rect.overlay').hover({ position: { x: 2, y: 2 } });
    await expect.poll(() => page.locator('.tooltip').textContent()).toMatch(/^hidden: neuron 0, step 0/);
    await page.screenshot({ path: path.join(shots, 'train-report.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a compare run: both methods, gradient agreement, robustness; a large raster is drawn on canvas', async () => {
    const runDir = path.join(dir, 'compare');
    await spikelr('compare', ...small, '--epochs', '1', '--gradient-batches', '1', '--copies-sweep', '2,4', '--attack-samples', '40', '--epsilons', '0,0.1', '--noise-levels', '0.2', '--pgd-iterations', '2', '--out', runDir);
    const out = path.join(dir, 'compare.html');
    await spikelr('report', runDir, '--out', out);
    const { page, errors } = await open(out);
    const titles = await page.locator('svg.chart > text.title').allTextContents();
    expect(titles).toEqual(expect.arrayContaining(['cosine(LR, BPTT) against copies K', 'variance of one LR estimate against copies K', 'FGSM', 'PGD', 'PGD transfer (crafted on the other model)', 'Gaussian noise', 'test accuracy by epoch']));
    expect(await page.locator('svg.line-chart g[data-series="lr"]').count()).toBeGreaterThan(0);
    expect(await page.locator('svg.line-chart g[data-series="bptt"]').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(shots, 'compare-report.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    // 784 input neurons × 200 steps of direct input: over the canvas threshold
    const rasterOut = path.join(dir, 'raster.html');
    await spikelr('raster', '--model', path.join(runDir, 'lr'), '--steps', '200', '--sample', '1', '--out', rasterOut);
    const r = await open(rasterOut);
    expect(await r.page.locator('.raster-panel[data-layer="input"] canvas').count()).toBe(1);
    expect(await r.page.locator('.raster-panel[data-layer="input"] rect.spike').count()).toBe(0);
    await r.page.screenshot({ path: path.join(shots, 'raster.png') });
    expect(r.errors).toEqual([]);
    await r.page.close();
  });
});
