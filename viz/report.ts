/**
 * Self-contained HTML reports: d3 and the drawing script inlined, the figures' data embedded, so a
 * report opens from disk with no network. Static charts are SVG rendered in Node; rasters are drawn
 * in the browser (zoom, pan, hover).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CLIENT_SCRIPT } from './client.js';
import { layerTitle, neuronRates, populationRate, type Raster } from './raster.js';
import { esc, paperSvg } from './svg.js';

export interface Section {
  readonly heading: string;
  /** Text above the figures (escaped). */
  readonly text?: string;
  /** Static figures (SVG documents). */
  readonly figures?: readonly string[];
  /** Interactive rasters. */
  readonly rasters?: readonly Raster[];
  /** Frames of one figure shown one at a time, with a slider and a play button (training as a film), and all side by side below. */
  readonly film?: { readonly frames: readonly { readonly label: string; readonly svg: string }[] };
  /** A table: header and rows (escaped). */
  readonly table?: { readonly header: readonly string[]; readonly rows: readonly (readonly (string | number)[])[] };
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #111; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figures svg { border: 1px solid #eee; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f6f6f6; }
td:first-child, th:first-child { text-align: left; }
.raster { margin: 8px 0; } .raster-panel { position: relative; margin-bottom: 10px; } .raster-title { font-weight: 600; font-size: 12px; }
.raster-canvas { position: absolute; left: 0; top: 18px; pointer-events: none; }
.raster-svg rect.spike { fill: #1f2937; } .raster-svg rect.rate { fill: #9ca3af; } .raster-svg path.population-rate { fill: none; stroke: #6b7280; stroke-width: 1.2; }
.raster-svg .axis-label, .raster-svg .mark-label { font-size: 11px; fill: #333; } .raster-svg .mark-label { fill: #6b7280; font-size: 10px; }
.film-controls { margin: 6px 0; } .film-slider { width: 360px; vertical-align: middle; } .film-label { font-weight: 600; }
.film-strip figure { margin: 0; } .film-strip svg { width: 360px; height: auto; } figcaption { font-size: 12px; font-weight: 600; }
.tooltip { position: absolute; background: #111; color: #fff; padding: 3px 7px; border-radius: 3px; font-size: 12px; pointer-events: none; }
`;

let d3Source: string | undefined;

function d3Bundle(): string {
  // d3's exports map hides dist/; its UMD bundle sits next to the resolved entry's folder
  d3Source ??= readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('d3')), '..', 'dist', 'd3.min.js'), 'utf8');
  return d3Source;
}

/** JSON safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const rasterJson = (r: Raster) => ({
  caption: r.caption,
  layers: r.layers.map((l) => ({
    name: l.name,
    title: layerTitle(l),
    neurons: l.neurons,
    steps: l.steps,
    times: Array.from(l.times),
    units: Array.from(l.units),
    ...(l.values ? { values: Array.from(l.values, (v) => Math.round(v * 1000) / 1000) } : {}),
    ...(l.rows ? { rows: Array.from(l.rows) } : {}),
    // the margins the SVG raster draws, computed once here for the page as well
    rates: Array.from(neuronRates(l), (v) => Math.round(v * 1e4) / 1e4),
    population: Array.from(populationRate(l), (v) => Math.round(v * 1e4) / 1e4),
  })),
});

/** Print: the figures without frames, in the paper style (svg.ts), the tooltips and their script kept for the rasters. */
const PAPER_CSS = `body.paper { font-family: Helvetica, Arial, sans-serif; } body.paper .figures svg { border: none; } body.paper h2 { border: none; }`;

export function htmlReport(o: {
  readonly title: string;
  readonly subtitle?: string;
  readonly sections: readonly Section[];
  readonly style?: 'screen' | 'paper';
}): string {
  const paper = o.style === 'paper';
  let id = 0;
  const body = o.sections.map((s) => {
    const parts = [`<h2>${esc(s.heading)}</h2>`];
    if (s.text) parts.push(`<p>${esc(s.text)}</p>`);
    if (s.table) {
      parts.push(
        `<table><thead><tr>${s.table.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${s.table.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`,
      );
    }
    if (s.figures?.length) parts.push(`<div class="figures">${(paper ? s.figures.map(paperSvg) : s.figures).join('')}</div>`);
    if (s.film?.frames.length) {
      const n = s.film.frames.length;
      parts.push(
        `<div class="film"><div class="film-controls"><button type="button" class="film-play">play</button> <input type="range" class="film-slider" min="0" max="${n - 1}" value="${n - 1}"> <span class="film-label">${esc(s.film.frames[n - 1]!.label)}</span></div>${s.film.frames.map((f, i) => `<div class="film-frame" data-frame="${i}" data-label="${esc(f.label)}"${i === n - 1 ? '' : ' hidden'}>${f.svg}</div>`).join('')}</div>`,
      );
      parts.push(
        `<h3>Side by side</h3><div class="figures film-strip">${s.film.frames.map((f) => `<figure><figcaption>${esc(f.label)}</figcaption>${f.svg}</figure>`).join('')}</div>`,
      );
    }
    for (const r of s.rasters ?? []) {
      const source = `raster-data-${id++}`;
      parts.push(
        `${r.caption ? `<p>${esc(r.caption)}</p>` : ''}<div class="raster" data-source="${source}"></div><script type="application/json" id="${source}">${scriptJson(rasterJson(r))}</script>`,
      );
    }
    return `<section>${parts.join('\n')}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(o.title)}</title><style>${CSS}${paper ? PAPER_CSS : ''}</style></head>
<body${paper ? ' class="paper"' : ''}>
<h1>${esc(o.title)}</h1>${o.subtitle ? `<p>${esc(o.subtitle)}</p>` : ''}
${body.join('\n')}
<script>${d3Bundle()}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
