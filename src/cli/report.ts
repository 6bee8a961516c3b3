import { existsSync, promises as fs } from 'node:fs';
import { writeFileAtomic } from '../core/platform/node.js';
import path from 'node:path';
import { check, SpikelrError } from '../core/errors.js';
import { palette } from '../../viz/palette.js';
import { rasterSvg } from '../../viz/raster.js';
import { htmlReport, type Section } from '../../viz/report.js';
import { writeFigures, type FigureStyle } from './figures.js';
import { loadTrained, METRICS_FILE } from './train.js';
import { compareReport } from './compare-report.js';
import { pct, curveFigures, runLog, type History, type Report } from './run-log.js';
import { sampleFigures, sampleSections, PAPER, SCREEN, type Layout } from './viz.js';
export async function reportCommand(
  runDir: string,
  o: { readonly out?: string; readonly figures?: string; readonly style?: FigureStyle; readonly pdf?: boolean },
): Promise<string[]> {
  check(o.out !== undefined || o.figures !== undefined, () => 'report: give --out <file.html> and/or --figures <dir>');
  check(existsSync(runDir), () => `report: ${runDir}: no such directory`);
  const compareFile = path.join(runDir, 'compare.json'),
    metricsFile = path.join(runDir, METRICS_FILE);
  let report: Report;
  const layout = o.style === 'paper' ? PAPER : SCREEN;
  if (existsSync(compareFile)) report = await compareReport(runDir, JSON.parse(await fs.readFile(compareFile, 'utf8')), layout);
  else if (existsSync(metricsFile)) report = await trainReport(runDir, JSON.parse(await fs.readFile(metricsFile, 'utf8')), layout);
  else throw new SpikelrError(`report: ${runDir} has neither metrics.json (spikelr train) nor compare.json (spikelr compare); is the run finished?`);
  const written: string[] = [];
  if (o.out) {
    await writeFileAtomic(o.out, htmlReport({ ...report, ...(o.style === 'paper' ? { style: 'paper' as const } : {}) }));
    written.push(o.out);
  }
  if (o.figures) written.push(...(await writeFigures(figuresOf(report.sections), o.figures, { style: o.style ?? 'screen', pdf: o.pdf ?? true })));
  return written;
}

/** Every figure of a report's sections as an SVG document: its charts, then its rasters. */
function figuresOf(sections: readonly Section[]): string[] {
  return sections.flatMap((s) => [...(s.figures ?? []), ...(s.rasters ?? []).map((r) => rasterSvg(r, { width: 720, rowHeight: 1 }))]);
}

async function trainReport(
  runDir: string,
  metrics: {
    method: string;
    history: History[];
    testAccuracy: number;
    trainSeconds: number;
    samplesPerSecond: number;
    peakTensorBytes: number;
    stopped: string;
  },
  L: Layout = SCREEN,
): Promise<Report> {
  const { net, config } = await loadTrained(runDir, {});
  try {
    const figures = await sampleFigures(net, config, 0);
    return {
      title: `spikelr train: ${path.basename(runDir)}`,
      subtitle: `${config.method} on ${config.dataset}: ${config.conv ? `conv ${config.conv}, ` : ''}hidden ${config.hidden.join('-') || 'none'} ${config.neuron}, ${config.steps} steps, ${config.encoding} input, seed ${config.seed}`,
      sections: [
        {
          heading: 'Result',
          table: {
            header: ['test accuracy', 'train seconds', 'samples/s', 'peak tensor MiB', 'epochs', 'stopped'],
            rows: [
              [
                pct(metrics.testAccuracy),
                metrics.trainSeconds.toFixed(1),
                metrics.samplesPerSecond.toFixed(1),
                (metrics.peakTensorBytes / 2 ** 20).toFixed(1),
                metrics.history.length,
                metrics.stopped,
              ],
            ],
          },
        },
        {
          heading: 'Training curves',
          figures: curveFigures(
            { [config.method]: { history: metrics.history, log: await runLog(runDir), peakTensorBytes: metrics.peakTensorBytes } },
            palette([config.method]),
            () => false,
            L,
          ),
        },
        ...sampleSections(figures, 'test sample 0', L),
      ],
    };
  } finally {
    net.dispose();
  }
}
