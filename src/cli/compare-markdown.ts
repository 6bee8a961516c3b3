import { armMethod, armName, samplesName, sweepsOf } from './compare-arms.js';
import type { LayerCosine } from './compare-gradients.js';
import { pct } from './run-log.js';
import { decorrelatedLayers, type TrainConfig } from './config.js';
import type { RunSummary } from './train.js';
/** The comparison as Markdown tables. */
export function markdown(r: {
  config: TrainConfig;
  methods: readonly string[];
  arms?: Record<string, { method: string; decorrelate: string }>;
  runs: Record<string, RunSummary & { history: unknown }>;
  gradients: Record<string, unknown>;
  robustness: Record<string, unknown>;
}): string {
  const lines: string[] = [];
  const c = r.config;
  lines.push(`# spikelr compare: ${r.methods.join(' vs ')} on ${c.dataset}`, '');
  lines.push(
    `${c.conv ? `Conv ${c.conv}, hidden ${c.hidden.join('-') || 'none'}` : `Hidden ${c.hidden.join('-')}`} ${c.neuron}${c.recurrent ? ' (recurrent)' : ''}, β = ${c.beta}, ${c.steps} steps, ${c.encoding} input, ${c.loss} (${c.reduction}), ${c.optimizer} η = ${c.learningRate} (${c.schedule}), batch ${c.batchSize}, ${c.epochs} epoch(s), seed ${c.seed}; LR: K = ${c.copies}, ${c.noise} noise, ${c.score} score, ${c.baseline} baseline; BPTT: ${c.surrogate}(${c.surrogateScale})${c.recurrentHops !== null ? `, through at most ${c.recurrentHops} recurrent hops` : ''}.`,
    '',
  );
  lines.push('| method | test accuracy | train seconds | samples/s | peak tensor MB |', '| --- | --- | --- | --- | --- |');
  for (const m of r.methods) {
    const s = r.runs[m]!;
    lines.push(
      `| ${m} | ${pct(s.testAccuracy)} | ${s.trainSeconds.toFixed(1)} | ${s.samplesPerSecond.toFixed(1)} | ${(s.peakTensorBytes / 2 ** 20).toFixed(1)} |`,
    );
  }
  lines.push(
    '',
    '## Per epoch',
    '',
    '| method | epoch | train loss | test accuracy | train seconds | peak tensor MB |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const m of r.methods) {
    for (const h of r.runs[m]!.history as { epoch: number; trainLoss: number; testAccuracy: number; trainSeconds: number; peakTensorBytes: number }[]) {
      lines.push(
        `| ${m} | ${h.epoch} | ${h.trainLoss.toFixed(4)} | ${pct(h.testAccuracy)} | ${h.trainSeconds.toFixed(1)} | ${(h.peakTensorBytes / 2 ** 20).toFixed(1)} |`,
      );
    }
  }
  const cosTable = (title: string, rows: LayerCosine[] | undefined, estimate = 'LR') => {
    if (!rows) return;
    lines.push('', `## ${title}`, '', `| parameter | cosine (mean ± sd) | ‖${estimate}‖/‖BPTT‖ |`, '| --- | --- | --- |');
    for (const l of rows) lines.push(`| ${l.parameter} | ${l.mean.toFixed(3)} ± ${l.sd.toFixed(3)} | ${l.normRatio.toFixed(3)} |`);
  };
  const warm = (r.gradients['decorrelationWarmup'] ?? Object.values((r.gradients['decorrelationWarmups'] ?? {}) as object)[0]) as { steps: number } | undefined;
  // what each arm decorrelated, 'auto' resolved for its method
  const chosen = (method: string, decorrelate: string) => decorrelatedLayers({ ...c, method, decorrelate: decorrelate as TrainConfig['decorrelate'] });
  const decorrelated = [...new Set(r.arms ? Object.values(r.arms).map((a) => chosen(a.method, a.decorrelate)) : [chosen(c.method, c.decorrelate)])].filter(
    (v) => v !== 'none',
  );
  if (decorrelated.length)
    lines.push(
      `Decorrelated inputs (${decorrelated.join(', ')}; η_R = ${c.decorrelationRate}, κ = ${c.decorrelationKappa}${c.decorrelationCentre ? ', centred' : ''})${
        r.arms
          ? `, in the arms named +decor (${Object.keys(r.arms)
              .filter((a) => a.includes('+'))
              .join(', ')})`
          : ''
      }${warm ? `: gradients compared after ${warm.steps} R-only updates` : ''}.`,
      '',
    );
  cosTable(
    `${r.arms ? `${armName('lr', Object.values(r.arms)[0]!.decorrelate as TrainConfig['decorrelate'])} (LR)` : 'LR'} vs BPTT gradient at initialisation (K = ${c.copies}, ${r.gradients['batches']} batches)`,
    r.gradients['initial'] as LayerCosine[],
  );
  for (const [m, sweep] of Object.entries(sweepsOf(r.gradients))) {
    if (!sweep.length) continue;
    const layers = Object.keys(sweep[0]!.layers);
    lines.push(
      '',
      `## ${m} against its number of ${samplesName(m)} K (initialisation, one batch; cosine to BPTT / variance of one estimate)`,
      '',
      `| K | overall cosine | ${layers.map((l) => `${l} cosine | ${l} variance`).join(' | ')} |`,
      `| --- | --- | ${layers.map(() => '--- | ---').join(' | ')} |`,
    );
    for (const row of sweep)
      lines.push(
        `| ${row.copies} | ${row.cosine.mean.toFixed(3)} ± ${row.cosine.sd.toFixed(3)} | ${layers.map((l) => `${row.layers[l]!.cosine.toFixed(3)} | ${row.layers[l]!.variance.toPrecision(3)}`).join(' | ')} |`,
      );
  }
  const firstLr = r.methods.find((m) => armMethod(m) === 'lr') ?? 'LR';
  cosTable(`${firstLr === 'lr' ? 'LR' : firstLr} vs BPTT gradient at the LR-trained weights`, r.gradients['trainedLR'] as LayerCosine[] | undefined);
  for (const [arm, rows] of Object.entries((r.gradients['trainedArms'] ?? {}) as Record<string, LayerCosine[]>))
    cosTable(`${arm} vs BPTT gradient at the weights it trained`, rows, arm);
  for (const [m, rows] of Object.entries((r.gradients['methods'] ?? {}) as Record<string, LayerCosine[]>)) {
    cosTable(`${m} vs BPTT gradient at initialisation (${r.gradients['batches']} batches)`, rows, m);
  }
  const rob = r.robustness;
  if (rob['epsilons']) {
    const eps = rob['epsilons'] as number[];
    lines.push(
      '',
      `## Robustness (${rob['samples']} test images; accuracy)`,
      '',
      `| attack | model | ${eps.map((e) => `ε = ${e}`).join(' | ')} |`,
      `| --- | --- | ${eps.map(() => '---').join(' | ')} |`,
    );
    for (const attack of ['fgsm', 'pgd'] as const) {
      for (const [m, acc] of Object.entries(rob[attack] as Record<string, number[]>))
        lines.push(`| ${attack.toUpperCase()}${attack === 'pgd' ? ` (${rob['pgdIterations']} steps)` : ''} | ${m} | ${acc.map(pct).join(' | ')} |`);
    }
    for (const [m, acc] of Object.entries((rob['transfer'] ?? {}) as Record<string, number[]>))
      lines.push(`| PGD transfer | ${m} | ${acc.map(pct).join(' | ')} |`);
    const sigmas = rob['noiseLevels'] as number[];
    lines.push('', `| Gaussian noise | model | ${sigmas.map((s) => `σ = ${s}`).join(' | ')} |`, `| --- | --- | ${sigmas.map(() => '---').join(' | ')} |`);
    for (const [m, acc] of Object.entries(rob['gaussian'] as Record<string, number[]>)) lines.push(`| | ${m} | ${acc.map(pct).join(' | ')} |`);
  } else if (rob['skipped']) lines.push('', `Robustness: ${rob['skipped']}.`);
  return `${lines.join('\n')}\n`;
}
