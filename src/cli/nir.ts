/** `spikelr export` and `spikelr import`: trained networks to and from NIR files. */
import { existsSync } from 'node:fs';
import { makeDirectory } from '../core/platform/node.js';
import path from 'node:path';
import { check, SpikelrError } from '../core/errors.js';
import { methodOf } from '../learning/estimators/registry.js';
import { MODEL_FILE } from '../learning/trainer.js';
import { serializeNetwork, writeFileAtomic } from '../io/network-file.js';
import { DEFAULT_DT, exportNir, importNir, type NirExportOptions } from '../io/nir/index.js';
import { importLayersModel, isLayersModelFile } from '../io/tfjs-layers.js';
import type { Network } from '../sim/network.js';
import { loadTrained } from './train.js';

/** What an imported directory holds besides its model: where it came from and what the import assumed. */
export const IMPORT_FILE = 'import.json';

export interface ExportOptions {
  readonly nir: string;
  readonly dt?: number;
  readonly deterministic?: boolean;
  readonly resetMetadata?: boolean;
}

/** Writes the network of a run directory or model file as a NIR file; returns what was written. */
export async function exportCommand(target: string, o: ExportOptions): Promise<Record<string, unknown>> {
  const { net, config, modelFile, hasRecipe } = await loadTrained(target, {});
  try {
    // a model with no recipe (an imported one) was not trained here: nothing says it fires with noise
    const stochastic = hasRecipe && methodOf(config.method).trainsWithNoise === true;
    const options: NirExportOptions = {
      ...(o.dt !== undefined ? { dt: o.dt } : {}),
      ...(stochastic ? { noise: `${config.noise}, trained by ${config.method}` } : {}),
      deterministic: o.deterministic ?? false,
      subtractReset: o.resetMetadata ? 'metadata' : 'error',
    };
    await exportNir(net, o.nir, options);
    return {
      model: modelFile,
      nir: o.nir,
      dt: options.dt ?? DEFAULT_DT,
      layers: net.layers.map((l) => `${l.name}: ${l.spec.kind}${l.neuron ? ` (${l.neuron.kind})` : ''}`),
      ...(stochastic ? { deterministic: true } : {}),
    };
  } finally {
    net.dispose();
  }
}

/**
 * Builds the network of a NIR file and writes it to `out` as a spikelr model (model.safetensors)
 * with import.json (source, NIR version, dt, which nodes made which layer, what was assumed).
 */
export async function importCommand(
  file: string,
  o: { readonly out: string; readonly dt?: number; readonly force?: boolean },
): Promise<Record<string, unknown>> {
  check(o.out.trim() !== '', () => '--out is empty; give the directory for the imported model, e.g. --out runs/imported');
  const model = path.join(o.out, MODEL_FILE),
    info = path.join(o.out, IMPORT_FILE);
  if (!o.force && (existsSync(model) || existsSync(info)))
    throw new SpikelrError(`${o.out} already holds a model; choose another --out, or overwrite with --force`);
  if (await isLayersModelFile(file)) return importLayers(file, o, model, info);
  const imported = await importNir(file, o.dt !== undefined ? { dt: o.dt } : {});
  const summary = {
    source: path.resolve(file),
    version: imported.version ?? null,
    dt: imported.dt,
    input: imported.net.inputShape,
    layers: imported.layers,
    notes: imported.notes,
  };
  return saveImport(imported.net, o.out, model, info, summary, { source: 'nir', key: 'nir' });
}

/** Writes an imported network (then frees it) and what the import recorded: model.safetensors (`source`, and the summary under `key`, in its metadata) and import.json. */
async function saveImport(
  net: Network,
  out: string,
  model: string,
  info: string,
  summary: Record<string, unknown>,
  meta: { readonly source: string; readonly key: string },
): Promise<Record<string, unknown>> {
  try {
    await makeDirectory(out);
    await writeFileAtomic(model, await serializeNetwork(net, { metadata: { source: meta.source, [meta.key]: JSON.stringify(summary) } }));
    await writeFileAtomic(info, `${JSON.stringify(summary, null, 2)}\n`);
    return { out, model, ...summary };
  } finally {
    net.dispose();
  }
}

/** A tfjs-layers model.json as a spikelr network of analog units (src/io/tfjs-layers.ts). */
async function importLayers(file: string, o: { readonly out: string; readonly dt?: number }, model: string, info: string): Promise<Record<string, unknown>> {
  check(o.dt === undefined, () => `--dt: ${file} is a tfjs-layers model, which has no time constants; drop --dt`);
  const net = await importLayersModel(file);
  const summary = {
    source: path.resolve(file),
    format: 'tfjs-layers',
    input: net.inputShape,
    layers: net.layers.map(
      (l) => `${l.name}: ${l.spec.kind}${l.neuron ? ` (${l.neuron.kind}${'activation' in l.neuron ? ` ${String(l.neuron.activation)}` : ''})` : ''}`,
    ),
  };
  return saveImport(net, o.out, model, info, summary, { source: 'tfjs-layers', key: 'import' });
}
