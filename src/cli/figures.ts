/**
 * Figures as files for a paper: each as SVG and as PDF, the PDF printed by headless Chromium: fonts
 * embedded, one page of the figure's own size, at the scale that sets the figures' 11 px text at
 * 7 pt (the least most journals take): a `--style paper` chart (380 px, its legend below) is 85 mm
 * wide, one journal column; a screen chart (560 px) 126 mm, a column and a half; a raster 162 mm.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { makeDirectory, writeFileAtomic } from '../core/platform/node.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SpikelrError } from '../core/errors.js';
import { paperSvg } from '../../viz/svg.js';

const run = promisify(execFile);

export const FIGURE_STYLES = ['screen', 'paper'] as const;
export type FigureStyle = (typeof FIGURE_STYLES)[number];

/** Millimetres per pixel in print: 11 px of text at 7 pt (1 pt = 25.4/72 mm). */
export const MM_PER_PX = ((7 / 11) * 25.4) / 72;

/** The Chromium that prints PDFs: $CHROMIUM_PATH, else Debian's. */
function chromium(): string {
  const found = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
  if (!found)
    throw new SpikelrError(
      'PDF figures are printed by Chromium, and none was found: install it (apt-get install chromium) or set CHROMIUM_PATH; --no-pdf writes the SVGs alone',
    );
  return found;
}

const size = (svg: string) => {
  const m = /<svg [^>]*width="([\d.]+)" height="([\d.]+)"/.exec(svg);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 560, height: 300 };
};

/** A file name from a figure's title: `03-test-accuracy-by-step`. */
function slug(i: number, title: string): string {
  const words =
    title
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^\w]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'figure';
  return `${String(i + 1).padStart(2, '0')}-${words}`;
}

/** Prints one SVG to a PDF page of its own size at a column's width. */
async function printPdf(svg: string, file: string, browser: string): Promise<void> {
  const { width, height } = size(svg);
  const mm = width * MM_PER_PX;
  const page = path.join(await fs.mkdtemp(path.join(tmpdir(), 'spikelr-figure-')), 'figure.html');
  await writeFileAtomic(
    page,
    `<!doctype html><html><head><meta charset="utf-8"><style>@page { size: ${mm.toFixed(2)}mm ${((mm * height) / width).toFixed(2)}mm; margin: 0 } html, body { margin: 0 } svg { width: ${mm.toFixed(2)}mm; height: auto; display: block }</style></head><body>${svg}</body></html>`,
  );
  try {
    await run(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--no-pdf-header-footer', `--print-to-pdf=${path.resolve(file)}`, `file://${page}`], {
      timeout: 60_000,
    });
  } catch (err) {
    throw new SpikelrError(
      `printing ${file} with ${browser} failed: ${
        String((err as { stderr?: string }).stderr ?? err)
          .split('\n')
          .find((l) => l.trim() && !/dbus/i.test(l)) ?? err
      }`,
    );
  } finally {
    await fs.rm(path.dirname(page), { recursive: true, force: true });
  }
  if (!existsSync(file)) throw new SpikelrError(`printing ${file} with ${browser} wrote nothing`);
}

/**
 * Writes every figure (SVG documents with a `<title>`) into `dir` as NN-title.svg and, with `pdf`,
 * NN-title.pdf; returns the files written.
 */
export async function writeFigures(figures: readonly string[], dir: string, o: { readonly style: FigureStyle; readonly pdf: boolean }): Promise<string[]> {
  const browser = o.pdf ? chromium() : undefined;
  await makeDirectory(dir);
  const written: string[] = [];
  for (const [i, figure] of figures.entries()) {
    const svg = o.style === 'paper' ? paperSvg(figure) : figure;
    const title = /<title>([^<]*)<\/title>/.exec(svg)?.[1] ?? 'figure';
    const base = path.join(dir, slug(i, title.replace(/&[a-z]+;|&#\d+;/g, ' ')));
    await writeFileAtomic(`${base}.svg`, `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`);
    written.push(`${base}.svg`);
    if (browser) {
      await printPdf(svg, `${base}.pdf`, browser);
      written.push(`${base}.pdf`);
    }
  }
  return written;
}
