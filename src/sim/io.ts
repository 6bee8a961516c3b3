/**
 * Saving and loading networks as safetensors files: topology and neuron parameters as JSON in the
 * header's `__metadata__`, weights as raw little-endian float32, bit-exact. Any safetensors
 * reader (Python's `safetensors`, for one) opens the weights. A CRC32 of the data section catches
 * corruption; sizes catch truncation; the metadata tells a spikelr model from a foreign file.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import { crc32 } from 'node:zlib';
import { check, readFileNamed, show, SpikelrError } from '../errors.js';
import { layerFromRecord, type LayerSpec } from './layer.js';
import { Network } from './network.js';

export const MODEL_FORMAT = 'spikelr';
export const MODEL_VERSION = 1;

interface TensorEntry {
  readonly dtype: string;
  readonly shape: number[];
  readonly data_offsets: [number, number];
}

interface SavedTopology {
  readonly input: number[];
  readonly seed: number;
  readonly layers: LayerSpec[];
}

/** The network as safetensors bytes. */
export async function serializeNetwork(net: Network): Promise<Uint8Array> {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const layer of net.layers) {
    for (const [param, v] of Object.entries(layer.params)) {
      const data = new Float32Array(await v.data());
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      header[`${layer.name}.${param}`] = { dtype: 'F32', shape: v.shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
    }
  }
  const body = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  const topology: SavedTopology = {
    input: [...net.inputShape],
    seed: net.seed,
    layers: net.layers.map((l) => ({ ...l.spec, name: l.name })),
  };
  header['__metadata__'] = {
    format: MODEL_FORMAT,
    version: String(MODEL_VERSION),
    network: JSON.stringify(topology),
    crc32: String(crc32(body)),
  };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // data section 8-byte aligned
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(body, 8 + head.length);
  return out;
}

/** Writes the network to `path` atomically (a temporary file renamed over the target). */
export async function saveNetwork(net: Network, path: string): Promise<void> {
  const bytes = await serializeNetwork(net);
  const tmp = `${path}.tmp-${process.pid}`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, path);
}

/** Rebuilds a network from safetensors bytes; `source` names the file in errors. */
export function deserializeNetwork(bytes: Uint8Array, source = 'model'): Network {
  const fail = (why: string): never => {
    throw new SpikelrError(`${source}: ${why}`);
  };
  const foreign = 'not a spikelr model file (expected a .safetensors file written by saveNetwork or `spikelr simulate --save`)';
  if (bytes.length < 8) fail(`${foreign}: only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength < 2 || headerLength > bytes.length - 8) {
    fail(bytes[8] === 0x7b // '{': a safetensors header that runs past the end
      ? `truncated: the header needs ${headerLength} bytes but the file has ${bytes.length - 8} after its length field`
      : `${foreign}: header length ${headerLength} does not fit a ${bytes.length}-byte file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return fail(`${foreign}: its header is not JSON (${(err as Error).message})`);
  }
  const meta = header['__metadata__'] as Record<string, string> | undefined;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (!meta || meta['format'] !== MODEL_FORMAT) {
    fail(`a safetensors file, but not a spikelr model: it has no spikelr metadata (tensors: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
  }
  const version = Number(meta!['version']);
  if (version !== MODEL_VERSION) fail(`model format version ${meta!['version']}, this spikelr reads version ${MODEL_VERSION}; upgrade spikelr`);
  const data = bytes.subarray(8 + headerLength);
  let topology: SavedTopology;
  try {
    topology = JSON.parse(meta!['network'] ?? '') as SavedTopology;
  } catch {
    return fail('corrupt: the network topology in the metadata is not JSON');
  }
  const entries = names.map((n) => [n, header[n] as TensorEntry] as const);
  const needed = Math.max(0, ...entries.map(([, e]) => e?.data_offsets?.[1] ?? 0));
  if (data.length < needed) {
    fail(`truncated: the tensors need ${needed} bytes of data but only ${data.length} follow the header (file is ${bytes.length} bytes, should be ${8 + headerLength + needed})`);
  }
  if (meta!['crc32'] !== undefined && String(crc32(data.subarray(0, needed))) !== meta!['crc32']) {
    fail('corrupt: the weights do not match the checksum stored with them');
  }
  check(typeof topology === 'object' && topology !== null && Array.isArray(topology.layers), () => `${source}: corrupt: the topology has no layer list`);
  const layers = topology.layers.map((l, i) => layerFromRecord(l, `${source}: layer ${i}`));
  const net = new Network({ input: topology.input, layers, seed: topology.seed });
  try {
    for (const layer of net.layers) {
      for (const [param, v] of Object.entries(layer.params)) {
        const key = `${layer.name}.${param}`;
        const e = header[key] as TensorEntry | undefined;
        if (!e) fail(`corrupt: tensor '${key}' is missing`);
        if (e!.dtype !== 'F32') fail(`tensor '${key}' has dtype ${e!.dtype}; spikelr models store F32`);
        if (e!.shape.join() !== v.shape.join()) fail(`tensor '${key}' has shape ${show(e!.shape)}, the topology needs ${show(v.shape)}`);
        const [start, end] = e!.data_offsets;
        if (end - start !== v.size * 4) fail(`corrupt: tensor '${key}' spans ${end - start} bytes, needs ${v.size * 4}`);
        const copy = new Uint8Array(end - start); // an aligned copy: a Buffer's slice shares the file's memory
        copy.set(data.subarray(start, end));
        const values = new Float32Array(copy.buffer);
        tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
      }
    }
  } catch (err) {
    net.dispose();
    throw err;
  }
  return net;
}

/** Loads a network saved by {@link saveNetwork}. */
export async function loadNetwork(path: string): Promise<Network> {
  return deserializeNetwork(await readFileNamed(path, 'model file'), path);
}
