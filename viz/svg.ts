/**
 * SVG written as text, so figures render in Node without a DOM: d3 computes the scales, ticks and
 * path data, these helpers write the elements. Every renderer returns a complete `<svg>` string.
 */
import { format, type ScaleLinear, type ScaleLogarithmic } from 'd3';

/** Escapes text for XML content and attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

type Attrs = Record<string, string | number | undefined>;

/** `<tag a="…">children</tag>` (self-closing without children); numbers rounded to 0.01 px. */
export function el(tag: string, attrs: Attrs = {}, children?: string | readonly string[]): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(typeof v === 'number' ? round(v) : v!)}"`)
    .join('');
  const body = Array.isArray(children) ? children.join('') : (children as string | undefined);
  return body === undefined ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

export function round(v: number): number {
  return Math.round(v * 100) / 100;
}

export interface Box {
  readonly width: number;
  readonly height: number;
  readonly margin: { readonly top: number; readonly right: number; readonly bottom: number; readonly left: number };
}

export const STYLE = `
svg.spikelr { font: 11px system-ui, sans-serif; background: #fff; }
svg.spikelr .axis line, svg.spikelr .axis path { stroke: #555; }
svg.spikelr .axis line.grid { stroke: #ececec; }
svg.spikelr .axis-label { fill: #333; }
svg.spikelr .mark { stroke: #9ca3af; stroke-dasharray: 3 3; }
svg.spikelr .mark-label { fill: #6b7280; font-size: 10px; }
svg.spikelr .title { font-size: 13px; font-weight: 600; }
svg.spikelr .spike { fill: #1f2937; }
svg.spikelr .cell { fill: #1d4ed8; }
svg.spikelr .rate { fill: #9ca3af; }
svg.spikelr .population-rate { fill: none; stroke: #6b7280; stroke-width: 1.2; }
svg.spikelr .membrane { fill: none; stroke: #2563eb; stroke-width: 1.5; }
svg.spikelr .threshold { fill: none; stroke: #dc2626; stroke-dasharray: 4 3; }
svg.spikelr .marker { fill: #dc2626; }
svg.spikelr .bar { fill: #60a5fa; }
svg.spikelr .whisker { stroke: #2563eb; stroke-width: 1.5; }
svg.spikelr .mean { fill: #2563eb; }
svg.spikelr .series { fill: none; stroke-width: 1.8; }
`;

/**
 * The figures' look in print (`--style paper`): Helvetica/Arial at sizes that read at a journal
 * column's width, black axes, no hover titles on the marks (the document keeps its own title).
 */
const PAPER_STYLE = STYLE.replace('font: 11px system-ui, sans-serif; background: #fff;', 'font: 11px Helvetica, Arial, sans-serif;')
  .replace('.axis line, svg.spikelr .axis path { stroke: #555; }', '.axis line, svg.spikelr .axis path { stroke: #000; }')
  .replace('.title { font-size: 13px; font-weight: 600; }', '.title { font-size: 12px; font-weight: 600; }');

/** `svg` (a document from this module) restyled for print: the paper style, the marks' hover titles dropped. */
export function paperSvg(svg: string): string {
  return svg.replace(/<style>[\s\S]*?<\/style>/, `<style>${PAPER_STYLE}</style>`).replace(/(<(circle|rect)\b[^>]*)><title>[^<]*<\/title><\/\2>/g, '$1/>');
}

/** A whole SVG document. */
export function svg(width: number, height: number, body: readonly string[], o: { readonly title?: string; readonly kind: string }): string {
  return el('svg', { xmlns: 'http://www.w3.org/2000/svg', class: `spikelr ${o.kind}`, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' }, [
    el('style', {}, STYLE),
    ...(o.title ? [el('title', {}, esc(o.title))] : []),
    ...body,
  ]);
}

type Scale = ScaleLinear<number, number> | ScaleLogarithmic<number, number>;

const tickFormat = (scale: Scale, count: number) => ('base' in scale ? format('~g') : scale.tickFormat(count));

/** A scale's tick values; a log scale's thinned to at most `most`: every tick when few, else 1-2-5 of each decade, else the decades alone. */
function scaleTicks(scale: Scale, ticks: number, most: number): number[] {
  if (!('base' in scale)) return scale.ticks(ticks);
  const all = scale.ticks(ticks);
  const mantissa = (v: number) => Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));
  const oneTwoFive = all.filter((v) => [1, 2, 5].includes(mantissa(v)));
  return all.length <= most ? all : oneTwoFive.length <= most ? oneTwoFive : all.filter((v) => mantissa(v) === 1);
}

/** Width of a tick label in px at the figures' 11 px font (about 6.2 px a character). */
export const textWidth = (text: string) => 6.2 * text.length;

/**
 * A bottom axis at `y` with ticks and a label; `tickValues` puts the ticks exactly there (the K
 * values a sweep was measured at), else d3 chooses about `ticks` of them.
 */
export function axisBottom(x: Scale, y: number, label: string, ticks = 6, tickValues?: readonly number[]): string {
  const [a, b] = x.range() as [number, number];
  const f = tickValues ? format('~g') : tickFormat(x, ticks);
  const values = tickValues ? [...tickValues] : scaleTicks(x, ticks, 8);
  return el('g', { class: 'axis x' }, [
    el('path', { d: `M${round(a)},${round(y)}H${round(b)}` }),
    ...values.map((v) =>
      el('g', { class: 'tick', transform: `translate(${round(x(v))},${round(y)})` }, [
        el('line', { y2: 4 }),
        el('text', { y: 15, 'text-anchor': 'middle' }, esc(f(v))),
      ]),
    ),
    el('text', { class: 'axis-label', x: (a + b) / 2, y: y + 30, 'text-anchor': 'middle' }, esc(label)),
  ]);
}

/** A left axis at `x` with ticks, optional grid lines to `gridTo`, and a label. */
export function axisLeft(y: Scale, x: number, label: string, ticks = 5, gridTo?: number): string {
  const [a, b] = y.range() as [number, number];
  const f = tickFormat(y, ticks);
  const values = scaleTicks(y, ticks, 6);
  // the label clears the widest tick label
  const clear = 7 + Math.max(0, ...values.map((v) => textWidth(f(v)))) + 8;
  return el('g', { class: 'axis y' }, [
    el('path', { d: `M${round(x)},${round(a)}V${round(b)}` }),
    ...values.map((v) =>
      el('g', { class: 'tick', transform: `translate(${round(x)},${round(y(v))})` }, [
        el('line', { x2: -4 }),
        ...(gridTo !== undefined ? [el('line', { class: 'grid', x2: gridTo - x })] : []),
        el('text', { x: -7, dy: '0.32em', 'text-anchor': 'end' }, esc(f(v))),
      ]),
    ),
    el('text', { class: 'axis-label', transform: `translate(${round(x - clear)},${round((a + b) / 2)}) rotate(-90)`, 'text-anchor': 'middle' }, esc(label)),
  ]);
}
