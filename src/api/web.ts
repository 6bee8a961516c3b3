/**
 * spikelr in a web page: the entry of the browser build (`npm run build:web` bundles it into
 * dist/web/spikelr.js, a classic script defining the global `spikelr`, so that a page works from file://). The portable API of src/api/portable.ts — networks, neurons,
 * layers, every registered learner, losses, optimizers, encoders, models as safetensors bytes —
 * and the browser's backend choice (webgpu, webgl, wasm, cpu).
 */
export * from './portable.js';
export { initWebBackend, webBackendReport, WEB_BACKEND_CHOICES } from '../kernels/backend-web.js';
export type { WebBackendChoice, WebBackendOptions, WebBackendReport } from '../kernels/backend-web.js';
export * as tf from '@tensorflow/tfjs';

import { barChartSvg, histogramSvg, lineChartSvg } from '../../viz/charts.js';
import { membraneSvg } from '../../viz/membrane.js';
import { rasterFromRecording, rasterLayer, rasterSvg } from '../../viz/raster.js';
/** The d3 renderers of spikelr/viz (SVG text; the HTML report writer is Node-only). */
export const viz = { rasterFromRecording, rasterLayer, rasterSvg, membraneSvg, lineChartSvg, histogramSvg, barChartSvg };
