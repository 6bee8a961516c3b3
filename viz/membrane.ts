/**
 * Membrane traces: u_t of one or more neurons against time, the threshold ϑ (a dashed line; a
 * step line when it adapts), and a marker where the neuron spiked.
 */
import { extent, line, scaleLinear } from 'd3';
import { axisBottom, axisLeft, el, esc, svg } from './svg.js';

export interface Trace {
  readonly label: string;
  readonly membrane: ArrayLike<number>;
  /** A constant threshold, or one per step (ALIF); null for a unit without one (a readout). */
  readonly threshold: number | ArrayLike<number> | null;
  /** 1 where the neuron spiked. */
  readonly spikes?: ArrayLike<number>;
}

const MARGIN = { top: 30, right: 16, bottom: 58, left: 64 };

/** The traces as an SVG document, one panel each; markers sit on the threshold at the spike's step. */
export function membraneSvg(traces: readonly Trace[], o: { readonly width?: number; readonly panelHeight?: number; readonly title?: string } = {}): string {
  const width = o.width ?? 720,
    ph = o.panelHeight ?? 140;
  const body: string[] = [];
  traces.forEach((trace, i) => {
    const steps = trace.membrane.length;
    const threshold = trace.threshold;
    const thr = (t: number) => (threshold === null ? NaN : typeof threshold === 'number' ? threshold : threshold[t]!);
    const top = MARGIN.top + i * (ph + MARGIN.bottom);
    const values = [...Array.from(trace.membrane), ...(threshold === null ? [] : Array.from({ length: steps }, (_, t) => thr(t)))];
    const [lo, hi] = extent(values) as [number, number];
    const x = scaleLinear()
      .domain([0, Math.max(1, steps - 1)])
      .range([MARGIN.left, width - MARGIN.right]);
    const y = scaleLinear()
      .domain([Math.min(lo, 0), hi === lo ? hi + 1 : hi])
      .nice()
      .range([top + ph, top]);
    const path = line<number>()
      .x((_, t) => x(t))
      .y((u) => y(u));
    const markers = Array.from({ length: steps }, (_, t) => t).filter((t) => trace.spikes?.[t]);
    body.push(
      el('g', { class: 'trace', 'data-label': trace.label }, [
        el('text', { class: 'title', x: MARGIN.left, y: top - 8 }, esc(trace.label)),
        axisLeft(y, MARGIN.left - 2, 'membrane', 4, width - MARGIN.right),
        threshold === null ? '' : el('path', { class: 'threshold', d: path(Array.from({ length: steps }, (_, t) => thr(t)))! }),
        el('path', { class: 'membrane', d: path(Array.from(trace.membrane))! }),
        ...markers.map((t) => el('circle', { class: 'marker', cx: x(t), cy: y(thr(t)), r: 3.5, 'data-t': t }, el('title', {}, `spike at step ${t}`))),
        axisBottom(x, top + ph + 2, 'time step'),
      ]),
    );
  });
  const height = MARGIN.top + traces.length * (ph + MARGIN.bottom);
  return svg(width, height, body, { title: o.title ?? 'membrane traces', kind: 'membrane' });
}
