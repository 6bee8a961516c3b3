/**
 * NIR interchange: spikelr networks to and from the files snnTorch, Norse, SpikingJelly, sinabs,
 * Rockpool, Lava-DL and SpiNNaker2 read and write. `exportNir(net, file)` writes a network;
 * `importNir(file)` builds one. Time is stepped by forward Euler with step dt (convert-out.ts).
 */
import { SpikelrError } from '../../core/errors.js';
import type { Network } from '../../sim/network.js';
import { networkToNir, type NirExportOptions } from './convert-out.js';
import { nirToNetwork, type NirImport, type NirImportOptions } from './convert-in.js';
import { readNirFile, writeNirFile } from './file.js';

export { networkToNir, DEFAULT_DT } from './convert-out.js';
export type { NirExportOptions } from './convert-out.js';
export { nirToNetwork, NIR_IMPORT_TYPES } from './convert-in.js';
export type { NirImport, NirImportOptions } from './convert-in.js';
export { readNirFile, writeNirFile, NIR_VERSION } from './file.js';
export type { NirNode, NirArray, NirValue } from '../../neurons/nir.js';

/** Writes `net` as a NIR file (HDF5) at `file`. */
export async function exportNir(net: Network, file: string, options: NirExportOptions = {}): Promise<void> {
  await writeNirFile(file, networkToNir(net, options));
}

/** The network a NIR file describes, with which nodes each layer came from and what was assumed. */
export async function importNir(file: string, options: NirImportOptions = {}): Promise<NirImport & { readonly version: string | undefined }> {
  const { version, graph } = await readNirFile(file);
  try {
    return { ...nirToNetwork(graph, options), version };
  } catch (err) {
    // name the file in what the graph's reader found wrong
    if (err instanceof SpikelrError) throw new SpikelrError(err.message.replace(/^NIR import: /, `NIR import: ${file}: `));
    throw err;
  }
}
