/**
 * End to end: reports of a real train run and a real compare run, opened from disk in headless
 * Chromium (Debian's chromium, driven by playwright-core): no console errors, every chart and
 * raster drawn, the raster's hover names neuron and step. Screenshots go to test-results/.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * What every figure of a page must be, read from the DOM: axis labels on every chart and raster,
   * no two text boxes of one figure overlapping, one colour per series name across all charts,
   * no '± 0.000' (a spread from a single draw).
   */
  type Found = { overlaps: string[]; unlabelled: string[]; mixed: string[]; zeroSpread: boolean; series: number };
  async function inspectFigures(page: import('playwright-core').Page): Promise<Found> {
    // runs in the page (the test's TypeScript has no DOM types, so it travels as source)
    return (await page.evaluate(`(() => {
      const texts = (root) => [...root.querySelectorAll('text')].map((t) => ({ text: t.textContent || '', box: t.getBoundingClientRect() })).filter((t) => t.text.trim() && t.box.width > 0);
      const overlaps = [];
      for (const svg of document.querySelectorAll('svg')) {
        const boxes = texts(svg);
        for (let i = 0; i < boxes.length; i++) {
          for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i].box, b = boxes[j].box;
            const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
            if (w > 1 && h > 1) overlaps.push("'" + boxes[i].text + "' and '" + boxes[j].text + "' in " + ((svg.querySelector('title') || {}).textContent || svg.getAttribute('class')));
          }
        }
      }
      const unlabelled = [...document.querySelectorAll('svg.line-chart, svg.bar-chart, svg.membrane, .raster-svg')]
        .filter((svg) => [...svg.querySelectorAll('.axis-label')].filter((t) => (t.textContent || '').trim()).length < (svg.matches('svg.bar-chart') ? 1 : 2))
        .map((svg) => (svg.querySelector('title') || {}).textContent || svg.getAttribute('class'));
      const colors = {};
      for (const g of document.querySelectorAll('[data-series][data-color]')) (colors[g.getAttribute('data-series')] = colors[g.getAttribute('data-series')] || []).push(g.getAttribute('data-color'));
      const mixed = Object.entries(colors).filter(([, c]) => new Set(c).size > 1).map(([name, c]) => name + ': ' + [...new Set(c)].join(', '));
      return { overlaps, unlabelled, mixed, zeroSpread: /± 0\\.000/.test(document.body.innerText), series: Object.keys(colors).length };
    })()`)) as Found;
  }

  async function checkFigures(page: import('playwright-core').Page, o: { readonly series: boolean }): Promise<void> {
    const found = await inspectFigures(page);
    expect(found.overlaps).toEqual([]);
    expect(found.unlabelled).toEqual([]);
    expect(found.mixed).toEqual([]);
    if (o.series) expect(found.series).toBeGreaterThan(0);
    expect(found.zeroSpread).toBe(false);
  }

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

  it('the figure check sees overlapping text, a missing axis label, two colours for one name and a spread of one draw', async () => {
    const page = await browser.newPage();
    await page.setContent(`<svg class="spikelr chart line-chart" width="300" height="100"><title>bad</title>
      <text x="10" y="20">0.85</text><text x="14" y="22">MiB</text><text class="axis-label" x="100" y="90">step</text>
      <g data-series="lr" data-color="#111"></g></svg><svg class="spikelr chart bar-chart"><g data-series="lr" data-color="#222"></g></svg><p>0.153 ± 0.000</p>`);
    const found = await inspectFigures(page);
    expect(found.overlaps).toEqual(["'0.85' and 'MiB' in bad"]);
    expect(found.unlabelled).toEqual(['bad', 'spikelr chart bar-chart']);
    expect(found.mixed).toEqual(['lr: #111, #222']);
    expect(found.zeroSpread).toBe(true);
    await page.close();
  });

  it('a train run: result, curves, raster with hover, membrane traces, firing rates', async () => {
    const runDir = path.join(dir, 'train');
    await spikelr('train', '--method', 'bptt', ...small, '--out', runDir);
    const out = path.join(dir, 'train.html');
    await spikelr('report', runDir, '--out', out);
    const { page, errors } = await open(out);
    expect(await page.locator('svg.line-chart').count()).toBe(3); // loss and accuracy by step, accuracy by time
    expect(await page.locator('svg.bar-chart').count()).toBe(1); // peak memory, from zero
    // the epochs are marked on the step axes
    expect(await page.locator('svg.line-chart .x-mark text').allTextContents()).toEqual(['epoch 2', 'epoch 2']);
    expect(await page.locator('.raster-panel').count()).toBe(2); // input and hidden
    expect(await page.locator('svg.membrane .membrane').count()).toBe(4);
    expect(await page.locator('svg.histogram').count()).toBe(1);
    // the top-left corner of the hidden layer's plot is neuron 0 at step 0
    await page.locator('.raster-panel[data-layer="hidden"] rect.overlay').hover({ position: { x: 2, y: 2 } });
    await expect.poll(() => page.locator('.tooltip').textContent()).toMatch(/^hidden: neuron 0, step 0/);
    await checkFigures(page, { series: true });
    await page.screenshot({ path: path.join(shots, 'train-report.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    // every figure as SVG and PDF for a paper: one page of the figure's size, 11 px text at 7 pt, fonts embedded
    const figures = path.join(dir, 'figures');
    const paperHtml = path.join(dir, 'train-paper.html');
    const f = await spikelr('report', runDir, '--figures', figures, '--style', 'paper', '--out', paperHtml);
    expect(f.stdout).toMatch(/wrote 15 files/); // the page and 7 figures twice
    const paper = await open(paperHtml);
    await checkFigures(paper.page, { series: true }); // the column-wide layout: no text on text either
    expect(await paper.page.locator('body.paper').count()).toBe(1);
    await paper.page.screenshot({ path: path.join(shots, 'train-report-paper.png'), fullPage: true });
    expect(paper.errors).toEqual([]);
    await paper.page.close();
    const files = readdirSync(figures).sort();
    expect(files.filter((n) => n.endsWith('.svg'))).toEqual(files.filter((n) => n.endsWith('.pdf')).map((n) => n.replace(/pdf$/, 'svg')));
    expect(files[0]).toBe('01-train-loss-by-step.pdf');
    const svg = readFileSync(path.join(figures, '01-train-loss-by-step.svg'), 'utf8');
    expect(svg.match(/<title>/g)).toHaveLength(1); // the document's; the marks' hover titles are dropped
    expect(svg).toMatch(/Helvetica/);
    const pdf = readFileSync(path.join(figures, '01-train-loss-by-step.pdf')).toString('latin1');
    expect(pdf.startsWith('%PDF-')).toBe(true);
    expect(pdf.match(/\/Type\s*\/Page\b/g)).toHaveLength(1);
    const [, w, h] = /\/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]/.exec(pdf)!;
    const width = Number(/<svg [^>]*width="([\d.]+)"/.exec(svg)![1]),
      height = Number(/<svg [^>]*height="([\d.]+)"/.exec(svg)![1]);
    expect(width).toBe(380); // a paper chart: one journal column (85 mm) at 7 pt
    expect(Number(w)).toBeCloseTo((width * 7) / 11, 0);
    expect(Number(h)).toBeCloseTo((height * 7) / 11, 0);
    expect(pdf).toMatch(/\/FontFile/);
  });

  it('a compare run: both methods, gradient agreement, robustness; a large raster is drawn on canvas', async () => {
    const runDir = path.join(dir, 'compare');
    await spikelr(
      'compare',
      ...small,
      '--epochs',
      '1',
      '--gradient-batches',
      '1',
      '--copies-sweep',
      '2,4',
      '--attack-samples',
      '40',
      '--epsilons',
      '0,0.1',
      '--noise-levels',
      '0.2',
      '--pgd-iterations',
      '2',
      '--out',
      runDir,
    );
    const out = path.join(dir, 'compare.html');
    await spikelr('report', runDir, '--out', out);
    const { page, errors } = await open(out);
    const titles = await page.locator('svg.chart > text.title').allTextContents();
    expect(titles).toEqual(
      expect.arrayContaining([
        'cosine(LR, BPTT) against copies K',
        'variance of one LR estimate against copies K',
        'FGSM',
        'PGD',
        'PGD transfer (crafted on the other model)',
        'Gaussian noise',
        "test accuracy at each epoch's end",
        'test accuracy',
        'train time',
        'peak tensor memory',
        'accuracy under PGD, ε = 0.1',
      ]),
    );
    // the summary comes first; the K charts tick at the swept K values; one batch shows no ±
    expect(await page.locator('section').first().locator('h2').textContent()).toBe('Summary');
    const kTicks = await page.locator('svg.line-chart', { hasText: 'cosine(LR, BPTT) against copies K' }).locator('.axis.x .tick text').allTextContents();
    expect(kTicks).toEqual(['2', '4']);
    expect(await page.locator('table', { hasText: 'hidden.weight' }).first().textContent()).not.toMatch(/±/);
    expect(await page.locator('svg.line-chart g[data-series="lr (attacks crafted on bptt)"]').count()).toBe(1);
    expect(await page.locator('svg.line-chart g[data-series="lr"]').count()).toBeGreaterThan(0);
    expect(await page.locator('svg.line-chart g[data-series="bptt"]').count()).toBeGreaterThan(0);
    await checkFigures(page, { series: true });
    await page.screenshot({ path: path.join(shots, 'compare-report.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    // 784 input neurons × 200 steps of direct input: over the canvas threshold
    const rasterOut = path.join(dir, 'raster.html');
    await spikelr('raster', '--model', path.join(runDir, 'lr'), '--steps', '200', '--sample', '1', '--order', 'cluster', '--out', rasterOut);
    const r = await open(rasterOut);
    expect(await r.page.locator('.raster-panel[data-layer="input"] canvas').count()).toBe(1);
    expect(await r.page.locator('.raster-panel[data-layer="input"] rect.spike').count()).toBe(0);
    // direct input is analog: a heat map; the hidden layer ordered by seriation; rates and population drawn
    expect(await r.page.locator('.raster-panel[data-layer="input"] .raster-title').textContent()).toMatch(/analog values up to/);
    await checkFigures(r.page, { series: false });
    await r.page.screenshot({ path: path.join(shots, 'raster.png') });
    expect(r.errors).toEqual([]);
    await r.page.close();
  });

  it('training as a film: a snapshot per checkpoint, one frame each, the slider shows one at a time', async () => {
    const runDir = path.join(dir, 'film');
    await spikelr(
      'train',
      '--method',
      'bptt',
      '--train-limit',
      '600',
      '--test-limit',
      '100',
      '--hidden',
      '24',
      '--epochs',
      '2',
      '--checkpoint-every',
      '5',
      '--snapshots',
      'true',
      '--no-progress',
      '--out',
      runDir,
    );
    const shots = readdirSync(path.join(runDir, 'snapshots')).sort();
    expect(shots).toEqual(['step-000000.safetensors', 'step-000005.safetensors', 'step-000008.safetensors']); // the start, step 5, the end
    const out = path.join(dir, 'film.html');
    await spikelr('raster', runDir, '--over-training', '--layers', 'hidden', '--out', out);
    const { page, errors } = await open(out);
    expect(await page.locator('.film-frame').count()).toBe(3);
    expect(await page.locator('.film-frame:not([hidden])').getAttribute('data-label')).toBe('step 8');
    await page.locator('.film-slider').fill('0');
    expect(await page.locator('.film-frame:not([hidden])').getAttribute('data-label')).toBe('step 0');
    expect(await page.locator('.film-label').textContent()).toBe('step 0');
    // each frame is the raster of its snapshot: the same spikes as spikelr raster draws from that model alone
    for (const [i, shot] of shots.entries()) {
      const svgFile = path.join(dir, `shot-${i}.svg`);
      await spikelr('raster', path.join(runDir, 'snapshots', shot), '--config', path.join(runDir, 'config.json'), '--layers', 'hidden', '--svg', svgFile);
      const alone = (readFileSync(svgFile, 'utf8').match(/class="spike"/g) ?? []).length;
      expect(await page.locator(`.film-frame[data-frame="${i}"] rect.spike`).count()).toBe(alone);
    }
    expect(await page.locator('.film-frame[data-frame="2"] rect.spike').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
    // a forced new run leaves none of the old run's snapshots
    await spikelr(
      'train',
      '--method',
      'bptt',
      '--train-limit',
      '300',
      '--test-limit',
      '100',
      '--hidden',
      '24',
      '--max-steps',
      '1',
      '--no-progress',
      '--out',
      runDir,
      '--force',
    );
    expect(existsSync(path.join(runDir, 'snapshots'))).toBe(false);
    const refused = await spikelr('raster', runDir, '--over-training', '--out', out).catch((e: { stderr: string }) => e);
    expect((refused as { stderr: string }).stderr).toMatch(/kept no snapshots; train it with --snapshots true/);
  });
});
