/**
 * Saving and loading networks as safetensors files: topology and neuron parameters as JSON in the
 * header's `__metadata__`, weights as raw little-endian float32, bit-exact. Any safetensors
 * reader (Python's `safetensors`, for one) opens the weights. A CRC32 of the data section catches
 * corruption; sizes catch truncation; the metadata tells a spikelr model from a foreign file.
 */
import * as tf from '@tensorflow/tfjs';
import { check, show, SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';
import { crc32, writeFileAtomic } from '../core/platform/node.js';
import { layerFromRecord, type LayerSpec } from '../sim/layer.js';
import { Network } from '../sim/network.js';

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

/** A tensor to write: name, shape and float32 values. */
export interface NamedValues {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** The metadata key of the header's checksum: ten decimal digits, a CRC32 of the header with them as zeros. */
const HEADER_CRC = 'headerCrc32';
const HEADER_CRC_BLANK = '0000000000';

/**
 * Whether the header bytes match their checksum; undefined when the header has none (files written
 * before it existed). A flipped bit anywhere in the header (a neuron's β in the topology, a shape, an
 * offset, the checksum itself) makes it false.
 */
export function headerChecksumMatches(headerBytes: Uint8Array): boolean | undefined {
  const text = latin1(headerBytes); // one char per byte, so the digits can be blanked in place
  const field = new RegExp(`"${HEADER_CRC}":"(\\d{10})"`, 'g');
  const found = [...text.matchAll(field)];
  if (found.length === 0) return text.includes(HEADER_CRC) ? false : undefined;
  if (found.length > 1) return false;
  const blanked = Uint8Array.from(text.replace(field, `"${HEADER_CRC}":"${HEADER_CRC_BLANK}"`), (c) => c.charCodeAt(0));
  return String(crc32(blanked)).padStart(10, '0') === found[0]![1];
}

/** Safetensors bytes of float32 tensors and string metadata, with CRC32s of the data section and of the header. */
export function encodeSafetensors(tensors: readonly NamedValues[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.values.byteLength] };
    offset += t.values.byteLength;
  }
  const body = new Uint8Array(offset);
  let at = 0;
  for (const t of tensors) {
    body.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), at);
    at += t.values.byteLength;
  }
  header['__metadata__'] = { ...metadata, crc32: String(crc32(body)), [HEADER_CRC]: HEADER_CRC_BLANK };
  let json = JSON.stringify(header);
  const utf8 = new TextEncoder();
  json += ' '.repeat((8 - ((8 + utf8.encode(json).length) % 8)) % 8); // data section 8-byte aligned
  // the header's own checksum: a CRC32 of its bytes with this field's digits blank, written into them
  const head = utf8.encode(json.replace(`"${HEADER_CRC}":"${HEADER_CRC_BLANK}"`, `"${HEADER_CRC}":"${String(crc32(utf8.encode(json))).padStart(10, '0')}"`));
  const out = new Uint8Array(8 + head.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(body, 8 + head.length);
  return out;
}

/** The network's parameters as named values (`<layer>.<param>`). */
export async function networkValues(net: Network): Promise<NamedValues[]> {
  const out: NamedValues[] = [];
  for (const layer of net.layers) {
    for (const [param, v] of Object.entries(layer.params))
      out.push({ name: `${layer.name}.${param}`, shape: v.shape, values: new Float32Array(await v.data()) });
  }
  return out;
}

/** The network as safetensors bytes; `extra` tensors and metadata ride along (checkpoints). */
export async function serializeNetwork(net: Network, extra: { tensors?: readonly NamedValues[]; metadata?: Record<string, string> } = {}): Promise<Uint8Array> {
  const topology: SavedTopology = {
    input: [...net.inputShape],
    seed: net.seed,
    layers: net.layers.map((l) => ({ ...l.spec, name: l.name }) as LayerSpec),
  };
  return encodeSafetensors([...(await networkValues(net)), ...(extra.tensors ?? [])], {
    ...extra.metadata,
    format: MODEL_FORMAT,
    version: String(MODEL_VERSION),
    network: JSON.stringify(topology),
  });
}

export { WRITE_TEMPORARY, writeFileAtomic } from '../core/platform/node.js';

/** Bytes as a string of one char per byte (latin1), in any host. */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
}

/** Writes the network to `path` atomically (a temporary file renamed over the target). */
export async function saveNetwork(net: Network, path: string): Promise<void> {
  await writeFileAtomic(path, await serializeNetwork(net));
}

/** Rebuilds a network from safetensors bytes; `source` names the file in errors. */
export function deserializeNetwork(bytes: Uint8Array, source = 'model'): Network {
  return deserializeModel(bytes, source).net;
}

export interface SavedModel {
  readonly net: Network;
  /** The file's metadata (spikelr's own keys included). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors besides the network's parameters (a checkpoint's optimizer state), by name. */
  readonly extra: ReadonlyMap<string, { readonly shape: number[]; readonly values: Float32Array }>;
  /** False for files written before the header had a checksum (they load, unchecked). */
  readonly headerChecked: boolean;
}

/** A network with everything else its file holds. */
export function deserializeModel(bytes: Uint8Array, source = 'model'): SavedModel {
  const fail = (why: string): never => {
    throw new SpikelrError(`${source}: ${why}`);
  };
  const foreign = 'not a spikelr model file (expected a .safetensors file written by saveNetwork or `spikelr simulate --save`)';
  if (bytes.length < 8) fail(`${foreign}: only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength < 2 || headerLength > bytes.length - 8) {
    fail(
      bytes[8] === 0x7b // '{': a safetensors header that runs past the end
        ? `truncated: the header needs ${headerLength} bytes but the file has ${bytes.length - 8} after its length field`
        : `${foreign}: header length ${headerLength} does not fit a ${bytes.length}-byte file`,
    );
  }
  const headerChecked = headerChecksumMatches(bytes.subarray(8, 8 + headerLength));
  if (headerChecked === false) fail('corrupt: the header (topology, neuron parameters, tensor layout) does not match the checksum stored with it');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
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
    fail(
      `truncated: the tensors need ${needed} bytes of data but only ${data.length} follow the header (file is ${bytes.length} bytes, should be ${8 + headerLength + needed})`,
    );
  }
  if (data.length > needed)
    fail(`corrupt: ${data.length - needed} unexpected bytes after the tensors (file is ${bytes.length} bytes, should be ${8 + headerLength + needed})`);
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
        tf.tidy(() => v.assign(tf.tensor(floats(data, start, end), v.shape, 'float32')));
      }
    }
  } catch (err) {
    net.dispose();
    throw err;
  }
  const own = new Set(net.layers.flatMap((l) => Object.keys(l.params).map((p) => `${l.name}.${p}`)));
  const extra = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, e] of entries) {
    if (own.has(name) || e?.dtype !== 'F32') continue;
    extra.set(name, { shape: e.shape, values: floats(data, e.data_offsets[0], e.data_offsets[1]) });
  }
  return { net, metadata: meta!, extra, headerChecked: headerChecked === true };
}

/** float32 values of bytes [start, end) of `data`, as an aligned copy (a Buffer's slice shares the file's memory). */
function floats(data: Uint8Array, start: number, end: number): Float32Array {
  const copy = new Uint8Array(end - start);
  copy.set(data.subarray(start, end));
  return new Float32Array(copy.buffer);
}

/** Loads a network saved by {@link saveNetwork}. */
export async function loadNetwork(path: string): Promise<Network> {
  return deserializeNetwork(await readFileNamed(path, 'model file'), path);
}
