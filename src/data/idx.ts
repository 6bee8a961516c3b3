/**
 * The IDX format of MNIST, Fashion-MNIST and KMNIST (LeCun et al.): two zero bytes, a type code,
 * the number of dimensions, each dimension as a big-endian uint32, then the values big-endian,
 * row-major. Files compressed with gzip (as they are usually downloaded) are inflated first.
 */
import { gunzipSync } from 'node:zlib';
import { SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';

const TYPES = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
} as const;

export type IdxType = (typeof TYPES)[keyof typeof TYPES]['name'];
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly type: IdxType;
  readonly shape: readonly number[];
  readonly data: IdxData;
}

/** Parses IDX bytes (gzip-compressed or not); `source` names the file in errors. */
export function parseIdx(raw: Uint8Array, source = 'IDX data'): IdxArray {
  const fail = (why: string): never => {
    throw new SpikelrError(`${source}: ${why}`);
  };
  let bytes = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      bytes = gunzipSync(raw);
    } catch (err) {
      fail(`gzip-compressed but cannot be inflated (${(err as Error).message}); the download may be incomplete`);
    }
  }
  if (bytes.length < 4) fail(`not an IDX file: only ${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`not an IDX file: it must start with two zero bytes, got 0x${[bytes[0], bytes[1]].map((b) => b!.toString(16).padStart(2, '0')).join('')}`);
  }
  const code = bytes[2]!;
  const type = TYPES[code as keyof typeof TYPES];
  if (!type) fail(`not an IDX file: unknown type code 0x${code.toString(16)} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)`);
  const rank = bytes[3]!;
  if (rank === 0) fail('not an IDX file: zero dimensions');
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) fail(`truncated: the header needs ${headerLength} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerLength + count * type!.size;
  if (bytes.length < expected) {
    fail(`truncated: a ${type!.name} array of shape [${shape.join(', ')}] needs ${expected} bytes, the file has ${bytes.length}`);
  }
  if (bytes.length > expected) fail(`${bytes.length - expected} unexpected bytes after a ${type!.name} array of shape [${shape.join(', ')}]`);
  return { type: type!.name, shape, data: decode(type!.name, view, headerLength, count) };
}

const READERS = {
  int16: (v: DataView, o: number) => v.getInt16(o, false),
  int32: (v: DataView, o: number) => v.getInt32(o, false),
  float32: (v: DataView, o: number) => v.getFloat32(o, false),
  float64: (v: DataView, o: number) => v.getFloat64(o, false),
} as const;

function decode(type: IdxType, view: DataView, offset: number, count: number): IdxData {
  const bytes = () => view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count);
  if (type === 'uint8') return new Uint8Array(bytes());
  if (type === 'int8') return new Int8Array(bytes());
  const out = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type];
  const values = new out(count);
  const read = READERS[type];
  const size = values.BYTES_PER_ELEMENT;
  for (let i = 0; i < count; i++) values[i] = read(view, offset + size * i);
  return values;
}

/** Reads and parses an IDX file; a missing file is an error that says where it was looked for. */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readFileNamed(path, 'IDX file'), path);
}

/** Encodes an array as IDX bytes (big-endian), the inverse of {@link parseIdx}. */
export function encodeIdx(type: IdxType, shape: readonly number[], values: ArrayLike<number>): Uint8Array {
  const entry = Object.entries(TYPES).find(([, t]) => t.name === type)!;
  const code = Number(entry[0]);
  const size = entry[1].size;
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new SpikelrError(`encodeIdx: ${values.length} values for shape [${shape.join(', ')}] (needs ${count})`);
  const out = new Uint8Array(4 + 4 * shape.length + count * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const at = 4 + 4 * shape.length;
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    const o = at + i * size;
    if (type === 'uint8') view.setUint8(o, v);
    else if (type === 'int8') view.setInt8(o, v);
    else if (type === 'int16') view.setInt16(o, v, false);
    else if (type === 'int32') view.setInt32(o, v, false);
    else if (type === 'float32') view.setFloat32(o, v, false);
    else view.setFloat64(o, v, false);
  }
  return out;
}
