// spikelr/viz: d3 renderers (SVG text in Node; self-contained HTML reports). Re-exports only.
export { palette, layerPalette } from './palette.js';
export { rasterLayer, rasterFromRecording, rasterSvg, rasterPanels } from './raster.js';
export type { Raster, RasterLayer, RasterLayout } from './raster.js';
export { membraneSvg } from './membrane.js';
export type { Trace } from './membrane.js';
export { lineChartSvg, histogramSvg, barChartSvg, spansDecades } from './charts.js';
export type { LineChart, Series, Bar } from './charts.js';
export { htmlReport } from './report.js';
export { paperSvg } from './svg.js';
export type { Section } from './report.js';
