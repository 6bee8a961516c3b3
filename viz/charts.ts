/**
 * Charts for training and comparison: line charts of several series (training curves against
 * epoch or wall time, cosine against copies, accuracy against ε) and histograms (firing rates).
 * Each point carries a `<title>`, so hovering shows its values in any viewer.
 */
import { bin, extent, line, max, scaleLinear, scaleLog, schemeTableau10 } from 'd3';
import { axisBottom, axisLeft, el, esc, svg } from './svg.js';

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** The series' colour (default: the next of Tableau 10); one per method across a report keeps charts comparable. */
  readonly color?: string;
  /** Drawn dashed (a variant of a method drawn solid beside it, e.g. with decorrelation). */
  readonly dashed?: boolean;
}

export interface LineChart {
  readonly title: string;
  readonly x: string;
  readonly y: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  /** Fixed y range (e.g. [0, 1] for accuracy). */
  readonly yDomain?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = { top: 30, right: 130, bottom: 44, left: 64 };

export function lineChartSvg(c: LineChart): string {
  // the legend gets room for its longest name (about 6.2 px a character at the page's font size)
  const legend = Math.max(MARGIN.right, 40 + 6.2 * Math.max(0, ...c.series.map((s) => s.name.length)));
  const M = { ...MARGIN, right: legend };
  const width = (c.width ?? 560) + legend - MARGIN.right, height = c.height ?? 300;
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])), ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = (extent(xs) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number];
  const x = c.logX ? scaleLog().domain([Math.max(x0, 1e-9), Math.max(x1, x0 * 1.0001, 1e-9)]).range([M.left, width - M.right]) : scaleLinear().domain([x0, x1 === x0 ? x0 + 1 : x1]).nice().range([M.left, width - M.right]);
  const [y0, y1] = c.yDomain ?? ((extent(ys) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number]);
  const y = scaleLinear().domain([y0, y1 === y0 ? y0 + 1 : y1]).nice().range([height - M.bottom, M.top]);
  const path = line<readonly [number, number]>().x((p) => x(p[0])).y((p) => y(p[1]));
  const body = [
    el('text', { class: 'title', x: M.left, y: 18 }, esc(c.title)),
    axisLeft(y, M.left - 2, c.y, 5, width - M.right),
    axisBottom(x, height - M.bottom + 2, c.x),
    ...c.series.map((s, i) => {
      const color = s.color ?? schemeTableau10[i % 10]!;
      return el('g', { class: 'series-group', 'data-series': s.name }, [
        el('path', { class: 'series', stroke: color, d: path(s.points) ?? '', ...(s.dashed ? { 'stroke-dasharray': '5 3' } : {}) }),
        ...s.points.map((p) => el('circle', { cx: x(p[0]), cy: y(p[1]), r: 2.8, fill: color }, el('title', {}, esc(`${s.name}: ${c.x} ${fmt(p[0])}, ${c.y} ${fmt(p[1])}`)))),
        s.dashed
          ? el('line', { x1: width - M.right + 10, x2: width - M.right + 24, y1: M.top + i * 18 - 3, y2: M.top + i * 18 - 3, stroke: color, 'stroke-width': 2, 'stroke-dasharray': '4 2' })
          : el('rect', { x: width - M.right + 12, y: M.top + i * 18 - 8, width: 10, height: 10, fill: color }),
        el('text', { x: width - M.right + 27, y: M.top + i * 18 + 1 }, esc(s.name)),
      ]);
    }),
  ];
  return svg(width, height, body, { title: c.title, kind: 'chart line-chart' });
}

const fmt = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(4));

/** Histogram of `values` in `bins` equal bins over `domain` (default their range). */
export function histogramSvg(h: { readonly title: string; readonly x: string; readonly values: ArrayLike<number>; readonly bins?: number; readonly domain?: readonly [number, number]; readonly width?: number; readonly height?: number }): string {
  const width = h.width ?? 360, height = h.height ?? 220;
  const values = Array.from(h.values);
  const [lo, hi] = h.domain ?? ((extent(values) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number]);
  const x = scaleLinear().domain([lo, hi === lo ? lo + 1 : hi]).range([MARGIN.left, width - 16]);
  const bins = bin().domain(x.domain() as [number, number]).thresholds(x.ticks(h.bins ?? 20))(values);
  const y = scaleLinear().domain([0, max(bins, (b) => b.length) ?? 1]).nice().range([height - MARGIN.bottom, MARGIN.top]);
  const body = [
    el('text', { class: 'title', x: MARGIN.left, y: 18 }, esc(h.title)),
    axisLeft(y, MARGIN.left - 2, 'neurons', 4, width - 16),
    ...bins.map((b) => el('rect', { class: 'bar', x: x(b.x0!) + 0.5, y: y(b.length), width: Math.max(0, x(b.x1!) - x(b.x0!) - 1), height: y(0) - y(b.length), 'data-count': b.length }, el('title', {}, esc(`${fmt(b.x0!)}–${fmt(b.x1!)}: ${b.length}`)))),
    axisBottom(x, height - MARGIN.bottom + 2, h.x, 5),
  ];
  return svg(width, height, body, { title: h.title, kind: 'chart histogram' });
}
