/**
 * NIR files (the Neuromorphic Intermediate Representation, Pedersen et al. 2024; spec 1.0) in HDF5:
 *
 *     /version                 string: the NIR version the file was written for
 *     /node/type               "NIRGraph"
 *     /node/nodes/<name>/type  each node's primitive ("Affine", "LIF", …, or "NIRGraph" for a subgraph)
 *     /node/nodes/<name>/<p>   one dataset per parameter (float arrays gzip-compressed, integers int64)
 *     /node/nodes/<name>/metadata/<k>   optional, never needed to run the node
 *     /node/edges              strings of shape [E, 2]: (source, target) node names
 *
 * This file only moves that tree between disk and {@link NirNode} values; what the nodes mean is in
 * convert-in.ts and convert-out.ts.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { namingFile, SpikelrError } from '../../core/errors.js';
import { h5wasm, hasHdf5Signature, isAbort, quietly, type H5Dataset, type H5Group } from '../hdf5.js';
import { isArray, type NirArray, type NirNode, type NirValue } from '../../neurons/nir.js';

export type { NirArray, NirNode, NirValue } from '../../neurons/nir.js';

/** The NIR release whose file layout spikelr writes. */
export const NIR_VERSION = '1.0.7';

// ---------------------------------------------------------------- reading

function readValue(d: H5Dataset, where: string): NirValue {
  const value = d.value;
  const shape = d.shape ?? [];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    // a string array other than the edges: keep it as text
    return value.join(',');
  }
  const meta = d.metadata as { type: number; size: number };
  const dtype: NirArray['dtype'] = meta.type === 1 ? (meta.size === 4 ? 'float32' : 'float64') : 'int64';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return { shape: [], data: Float64Array.of(Number(value)), dtype };
  if (ArrayBuffer.isView(value)) {
    const data =
      value instanceof BigInt64Array || value instanceof BigUint64Array
        ? Float64Array.from(value, Number)
        : Float64Array.from(value as unknown as ArrayLike<number>);
    return { shape, data, dtype };
  }
  throw new SpikelrError(`${where}: a dataset of a type NIR does not use (${JSON.stringify(d.dtype)})`);
}

function readGroup(g: H5Group, where: string, depth: number): NirNode {
  const keys = g.keys();
  if (!keys.includes('type')) {
    throw new SpikelrError(
      `${where}: the node has no 'type' dataset (it has ${keys.map((k) => `'${k}'`).join(', ') || 'nothing'}); every NIR node names its primitive in 'type'`,
    );
  }
  const typeEntry = g.get('type');
  const type = typeEntry && 'shape' in typeEntry ? readValue(typeEntry as H5Dataset, `${where}/type`) : undefined;
  if (typeof type !== 'string')
    throw new SpikelrError(
      `${where}/type must be a string naming the primitive, got ${isArray(type) ? `numbers of shape [${type.shape.join(', ')}]` : 'a group'}`,
    );
  const fields: Record<string, NirValue> = {};
  const metadata: Record<string, NirValue> = {};
  let nodes: Record<string, NirNode> | undefined;
  let edges: [string, string][] | undefined;
  for (const key of keys) {
    if (key === 'type') continue;
    const entry = g.get(key);
    const path = `${where}/${key}`;
    if (key === 'metadata' && entry && !('shape' in entry)) {
      for (const k of (entry as H5Group).keys()) {
        const m = (entry as H5Group).get(k);
        if (m && 'shape' in m) metadata[k] = readValue(m as H5Dataset, `${path}/${k}`);
      }
    } else if (type === 'NIRGraph' && key === 'nodes') {
      if (depth > 16) throw new SpikelrError(`${path}: subgraphs nest more than 16 deep`);
      nodes = {};
      const group = entry as H5Group;
      for (const name of group.keys()) {
        const child = group.get(name);
        if (!child || 'shape' in child) throw new SpikelrError(`${path}/${name} must be a node group, got a dataset`);
        nodes[name] = readGroup(child as H5Group, `${path}/${name}`, depth + 1);
      }
    } else if (type === 'NIRGraph' && key === 'edges') {
      const d = entry as H5Dataset;
      const v = d.value;
      const shape = d.shape ?? [];
      const list = Array.isArray(v) ? v : [];
      if (!(list.every((x) => typeof x === 'string') && ((shape.length === 2 && shape[1] === 2) || list.length === 0))) {
        throw new SpikelrError(`${path} must be strings of shape [E, 2] (source, target), got shape [${shape.join(', ')}]`);
      }
      edges = [];
      for (let i = 0; i < list.length; i += 2) edges.push([list[i] as string, list[i + 1] as string]);
    } else if (entry && 'shape' in entry) {
      fields[key] = readValue(entry as H5Dataset, path);
    }
  }
  if (type === 'NIRGraph') {
    if (!nodes) throw new SpikelrError(`${where}: a NIRGraph needs a 'nodes' group`);
    if (!edges) throw new SpikelrError(`${where}: a NIRGraph needs an 'edges' dataset`);
    return { type, fields, metadata, nodes, edges };
  }
  return { type, fields, metadata };
}

/** Reads a NIR file's version and its root graph. */
export async function readNirFile(file: string): Promise<{ version: string | undefined; graph: NirNode }> {
  if (!existsSync(file)) throw new SpikelrError(`NIR: ${file} not found`);
  if (!(await hasHdf5Signature(file))) throw new SpikelrError(`NIR: ${file} is not an HDF5 file (no HDF5 signature in its first 4 KB); NIR files are HDF5`);
  const lib = await h5wasm();
  return quietly(
    (reason, aborted) => `NIR: ${file} is corrupt: the HDF5 reader ${aborted ? 'aborted' : 'failed'} on it (${reason})`,
    () => {
      let f: InstanceType<typeof lib.File>;
      try {
        f = new lib.File(file, 'r');
      } catch (err) {
        if (isAbort(err)) throw err;
        throw new SpikelrError(`NIR: ${file} is not an HDF5 file (${(err as Error).message})`);
      }
      try {
        const keys = f.keys();
        if (!keys.includes('node'))
          throw new SpikelrError(
            `NIR: ${file} has no /node group (it has ${keys.map((k) => `/${k}`).join(', ') || 'nothing'}); a NIR file keeps its graph in /node`,
          );
        const v = keys.includes('version') ? f.get('version') : null;
        const version = v && 'shape' in v ? readValue(v as H5Dataset, '/version') : undefined;
        const root = f.get('node');
        if (!root || 'shape' in root) throw new SpikelrError(`NIR: ${file}: /node must be a group`);
        const graph = readGroup(root as H5Group, `NIR: ${file}: /node`, 0);
        if (graph.type !== 'NIRGraph') throw new SpikelrError(`NIR: ${file}: /node has type '${graph.type}'; the root of a NIR file is a NIRGraph`);
        return { version: typeof version === 'string' ? version : undefined, graph };
      } finally {
        try {
          f.close();
        } catch {
          // after an abort the library can close nothing; the first error is the one to report
        }
      }
    },
  );
}

// ---------------------------------------------------------------- writing

function writeValue(g: H5Group, name: string, v: NirValue): void {
  if (typeof v === 'string') {
    g.create_dataset({ name, data: v });
    return;
  }
  const n = v.data.length;
  if (v.dtype === 'int64') {
    g.create_dataset({ name, data: BigInt64Array.from(v.data, (x) => BigInt(Math.round(x))), shape: [...v.shape] });
    return;
  }
  const data = v.dtype === 'float64' ? Float64Array.from(v.data) : Float32Array.from(v.data);
  // the reference writer gzips every array; a scalar has no chunks to compress
  const compress = v.shape.length > 0 && n > 0 ? { chunks: [...v.shape], compression: 'gzip' as const, compression_opts: 4 } : {};
  g.create_dataset({ name, data, shape: [...v.shape], ...compress });
}

function writeNode(g: H5Group, node: NirNode): void {
  writeValue(g, 'type', node.type);
  for (const [k, v] of Object.entries(node.fields)) writeValue(g, k, v);
  if (Object.keys(node.metadata).length > 0) {
    const m = g.create_group('metadata');
    for (const [k, v] of Object.entries(node.metadata)) writeValue(m, k, v);
  }
  if (node.nodes) {
    const nodes = g.create_group('nodes');
    for (const [name, child] of Object.entries(node.nodes)) writeNode(nodes.create_group(name), child);
    g.create_dataset({ name: 'edges', data: (node.edges ?? []).flat(), shape: [node.edges?.length ?? 0, 2] });
  }
}

/** Writes `graph` (a NIRGraph) as a NIR file at `file`, atomically (a temporary renamed over it). */
export async function writeNirFile(file: string, graph: NirNode): Promise<void> {
  const lib = await h5wasm();
  const dir = path.dirname(path.resolve(file));
  if (!existsSync(dir)) throw new SpikelrError(`NIR: cannot write ${file}: its folder ${dir} does not exist`);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    quietly(
      (reason) => `NIR: cannot write ${file}: ${reason}`,
      () => {
        const f = new lib.File(tmp, 'w');
        try {
          writeValue(f, 'version', NIR_VERSION);
          writeNode(f.create_group('node'), graph);
        } finally {
          f.close();
        }
      },
    );
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    namingFile(file)(err);
  }
}
