/**
 * Charts for training and comparison: line charts of several series (training curves against
 * epoch or wall time, cosine against copies, accuracy against ε) and histograms (firing rates).
 * Each point carries a `<title>`, so hovering shows its values in any viewer.
 */
import { bin, extent, line, max, scaleLinear, scaleLog, schemeTableau10 } from 'd3';
import { axisBottom, axisLeft, el, esc, svg, textWidth } from './svg.js';

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
  /** A log x axis, or 'auto': chosen by the data (positive values spanning 20× or more). */
  readonly logX?: boolean | 'auto';
  /** A log y axis, or 'auto' (a loss falling over decades). */
  readonly logY?: boolean | 'auto';
  /** Fixed x range (a step axis from 0 when every point sits at one step). */
  readonly xDomain?: readonly [number, number];
  /** Ticks exactly at these x values (the K values a sweep measured), not d3's round numbers. */
  readonly xTicks?: readonly number[];
  /** Fixed y range (e.g. [0, 1] for accuracy). */
  readonly yDomain?: readonly [number, number];
  /** The y axis starts at zero (where a ratio of values matters: time, memory). */
  readonly zeroBased?: boolean;
  /** Dashed vertical lines with a label (epoch boundaries on a step axis). */
  readonly xMarks?: readonly { readonly at: number; readonly label: string }[];
  readonly width?: number;
  readonly height?: number;
  /** The legend right of the plot (default), or below it (a narrow figure: a journal column). */
  readonly legend?: 'right' | 'below';
}

/** Whether values call for a log axis: all positive and spanning 20× or more. */
export function spansDecades(values: readonly number[]): boolean {
  if (values.length < 2 || values.some((v) => !(v > 0))) return false;
  return Math.max(...values) / Math.min(...values) >= 20;
}

const MARGIN = { top: 30, right: 130, bottom: 44, left: 64 };

export function lineChartSvg(c: LineChart): string {
  const below = c.legend === 'below';
  // the legend gets room for its longest name (about 6.2 px a character at the page's font size)
  const legend = below ? 16 : Math.max(MARGIN.right, 40 + 6.2 * Math.max(0, ...c.series.map((s) => s.name.length)));
  const M = { ...MARGIN, right: legend };
  const width = below ? (c.width ?? 560) : (c.width ?? 560) + legend - MARGIN.right,
    plotHeight = c.height ?? 300;
  // below the plot, entries flow in rows across the figure's width
  const entries: { x: number; row: number }[] = [];
  let at = M.left,
    row = 0;
  for (const s of c.series) {
    const w = 30 + textWidth(s.name);
    if (at + w > width - 8 && at > M.left) {
      at = M.left;
      row++;
    }
    entries.push({ x: at, row });
    at += w;
  }
  const height = below && c.series.length ? plotHeight + 16 * (row + 1) + 4 : plotHeight;
  const key = (i: number) => (below ? { x: entries[i]!.x - 12, y: plotHeight + 10 + 16 * entries[i]!.row } : { x: width - M.right, y: M.top + i * 18 });
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])),
    ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = c.xDomain ?? ((extent(xs) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number]);
  const logX = c.logX === 'auto' ? spansDecades(xs) : (c.logX ?? false);
  const logY = c.logY === 'auto' ? spansDecades(ys) : (c.logY ?? false);
  const x = logX
    ? scaleLog()
        .domain([Math.max(x0, 1e-9), Math.max(x1, x0 * 1.0001, 1e-9)])
        .range([M.left, width - M.right])
    : scaleLinear()
        .domain([x0, x1 === x0 ? x0 + 1 : x1])
        .nice()
        .range([M.left, width - M.right]);
  const [e0, e1] = (extent(ys) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number];
  const [y0, y1] = c.yDomain ?? (c.zeroBased ? [Math.min(0, e0), Math.max(0, e1)] : [e0, e1]);
  const y = logY
    ? scaleLog()
        .domain([Math.max(y0, 1e-12), Math.max(y1, y0 * 1.0001, 1e-12)])
        .range([plotHeight - M.bottom, M.top])
    : scaleLinear()
        .domain([y0, y1 === y0 ? y0 + 1 : y1])
        .nice()
        .range([plotHeight - M.bottom, M.top]);
  const path = line<readonly [number, number]>()
    .x((p) => x(p[0]))
    .y((p) => y(p[1]));
  const body = [
    el('text', { class: 'title', x: below ? 8 : M.left, y: 18 }, esc(c.title)),
    axisLeft(y, M.left - 2, c.y, 5, width - M.right),
    axisBottom(x, plotHeight - M.bottom + 2, c.x, 6, c.xTicks),
    ...(c.xMarks ?? [])
      .filter((m) => m.at >= x.domain()[0]! && m.at <= x.domain()[1]!)
      .map((m) =>
        el('g', { class: 'x-mark' }, [
          el('line', { class: 'mark', x1: x(m.at), x2: x(m.at), y1: M.top, y2: plotHeight - M.bottom }),
          el('text', { class: 'mark-label', x: x(m.at) + 3, y: M.top + 9 }, esc(m.label)),
        ]),
      ),
    ...c.series.map((s, i) => {
      const color = s.color ?? schemeTableau10[i % 10]!;
      return el('g', { class: 'series-group', 'data-series': s.name, 'data-color': color }, [
        el('path', { class: 'series', stroke: color, d: path(s.points) ?? '', ...(s.dashed ? { 'stroke-dasharray': '5 3' } : {}) }),
        ...s.points.map((p) =>
          el('circle', { cx: x(p[0]), cy: y(p[1]), r: 2.8, fill: color }, el('title', {}, esc(`${s.name}: ${c.x} ${fmt(p[0])}, ${c.y} ${fmt(p[1])}`))),
        ),
        s.dashed
          ? el('line', {
              x1: key(i).x + 10,
              x2: key(i).x + 24,
              y1: key(i).y - 3,
              y2: key(i).y - 3,
              stroke: color,
              'stroke-width': 2,
              'stroke-dasharray': '4 2',
            })
          : el('rect', { x: key(i).x + 12, y: key(i).y - 8, width: 10, height: 10, fill: color }),
        el('text', { x: key(i).x + 27, y: key(i).y + 1 }, esc(s.name)),
      ]);
    }),
  ];
  return svg(width, height, body, { title: c.title, kind: 'chart line-chart' });
}

export interface Bar {
  readonly name: string;
  readonly value: number;
  readonly color?: string;
  /** The value as written beside the bar (default: the number). */
  readonly label?: string;
}

/** Horizontal bars from zero, one per name (a method's accuracy, time, memory), each labelled with its value. */
export function barChartSvg(b: {
  readonly title: string;
  readonly x: string;
  readonly bars: readonly Bar[];
  readonly domain?: readonly [number, number];
  readonly width?: number;
}): string {
  const width = b.width ?? 300;
  const left = 14 + Math.max(40, ...b.bars.map((bar) => textWidth(bar.name)));
  const row = 20,
    top = 30,
    height = top + row * b.bars.length + 44;
  const hi = b.domain?.[1] ?? Math.max(0, ...b.bars.map((bar) => bar.value));
  const x = scaleLinear()
    .domain([b.domain?.[0] ?? 0, hi > 0 ? hi : 1])
    .nice()
    .range([left, width - 60]);
  const body = [
    el('text', { class: 'title', x: 8, y: 18 }, esc(b.title)),
    ...b.bars.map((bar, i) =>
      el('g', { class: 'bar-row', 'data-series': bar.name, ...(bar.color ? { 'data-color': bar.color } : {}) }, [
        el('text', { x: left - 6, y: top + i * row + 12, 'text-anchor': 'end' }, esc(bar.name)),
        el(
          'rect',
          {
            class: 'bar',
            x: x(0),
            y: top + i * row + 2,
            width: Math.max(0, x(bar.value) - x(0)),
            height: row - 6,
            ...(bar.color ? { style: `fill:${bar.color}` } : {}),
          },
          el('title', {}, esc(`${bar.name}: ${bar.label ?? fmt(bar.value)}`)),
        ),
        el('text', { class: 'value', x: x(bar.value) + 4, y: top + i * row + 12 }, esc(bar.label ?? fmt(bar.value))),
      ]),
    ),
    axisBottom(x, top + row * b.bars.length + 2, b.x, 4),
  ];
  return svg(width, height, body, { title: b.title, kind: 'chart bar-chart' });
}

const fmt = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(4));

/** Histogram of `values` in `bins` equal bins over `domain` (default their range). */
export function histogramSvg(h: {
  readonly title: string;
  readonly x: string;
  readonly values: ArrayLike<number>;
  readonly bins?: number;
  readonly domain?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
}): string {
  const width = h.width ?? 360,
    height = h.height ?? 220;
  const values = Array.from(h.values);
  const [lo, hi] = h.domain ?? ((extent(values) as [number, number] | [undefined, undefined]).map((v) => v ?? 0) as [number, number]);
  const x = scaleLinear()
    .domain([lo, hi === lo ? lo + 1 : hi])
    .range([MARGIN.left, width - 16]);
  const bins = bin()
    .domain(x.domain() as [number, number])
    .thresholds(x.ticks(h.bins ?? 20))(values);
  const y = scaleLinear()
    .domain([0, max(bins, (b) => b.length) ?? 1])
    .nice()
    .range([height - MARGIN.bottom, MARGIN.top]);
  const body = [
    el('text', { class: 'title', x: MARGIN.left, y: 18 }, esc(h.title)),
    axisLeft(y, MARGIN.left - 2, 'neurons', 4, width - 16),
    ...bins.map((b) =>
      el(
        'rect',
        { class: 'bar', x: x(b.x0!) + 0.5, y: y(b.length), width: Math.max(0, x(b.x1!) - x(b.x0!) - 1), height: y(0) - y(b.length), 'data-count': b.length },
        el('title', {}, esc(`${fmt(b.x0!)}–${fmt(b.x1!)}: ${b.length}`)),
      ),
    ),
    axisBottom(x, height - MARGIN.bottom + 2, h.x, 5),
  ];
  return svg(width, height, body, { title: h.title, kind: 'chart histogram' });
}

export interface IntervalRow {
  readonly name: string;
  readonly mean: number;
  /** The interval drawn as whiskers (a 95% confidence interval); absent: the point alone. */
  readonly interval?: readonly [number, number];
  readonly color?: string;
  /** The value as written at the right (default: the mean). */
  readonly label?: string;
}

/** One row per name: its mean as a dot and its interval as whiskers, on an axis fitted to them (a sweep's grid points). */
export function intervalChartSvg(c: { readonly title: string; readonly x: string; readonly rows: readonly IntervalRow[]; readonly width?: number }): string {
  const width = c.width ?? 520;
  const left = 14 + Math.max(40, ...c.rows.map((r) => textWidth(r.name)));
  const right = 14 + Math.max(40, ...c.rows.map((r) => textWidth(r.label ?? fmt(r.mean))));
  const row = 22,
    top = 30,
    height = top + row * c.rows.length + 44;
  const ends = c.rows.flatMap((r) => [...(r.interval ?? []), r.mean]);
  const [lo, hi] = [Math.min(...ends), Math.max(...ends)];
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
  const x = scaleLinear()
    .domain([lo - pad, hi + pad])
    .nice()
    .range([left, width - right]);
  const body = [
    el('text', { class: 'title', x: 8, y: 18 }, esc(c.title)),
    ...c.rows.map((r, i) => {
      const y = top + i * row + 10;
      const style = r.color ? `stroke:${r.color};fill:${r.color}` : undefined;
      const whiskers = r.interval
        ? [
            el('line', { class: 'whisker', x1: x(r.interval[0]), x2: x(r.interval[1]), y1: y, y2: y, ...(style ? { style } : {}) }),
            ...r.interval.map((v) => el('line', { class: 'whisker', x1: x(v), x2: x(v), y1: y - 5, y2: y + 5, ...(style ? { style } : {}) })),
          ]
        : [];
      const text = r.label ?? fmt(r.mean);
      return el('g', { class: 'interval-row', 'data-series': r.name }, [
        el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, esc(r.name)),
        ...whiskers,
        el('circle', { class: 'mean', cx: x(r.mean), cy: y, r: 4, ...(style ? { style } : {}) }, el('title', {}, esc(`${r.name}: ${text}`))),
        el('text', { class: 'value', x: width - right + 6, y: y + 4 }, esc(text)),
      ]);
    }),
    axisBottom(x, top + row * c.rows.length + 2, c.x, 5),
  ];
  return svg(width, height, body, { title: c.title, kind: 'chart interval-chart' });
}
