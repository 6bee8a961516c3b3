/**
 * What spikelr takes from its host, in a web page: the browser build (`npm run build:web`) puts
 * this module in place of ./node.ts. No file system (a page reads and writes models as bytes:
 * `serializeNetwork`, `deserializeNetwork`), mathjs bundled, no Joe–Kuo table (QMC sampling is
 * Node-only: 1.8 MB of direction numbers), no custom wasm kernels (the stock ones serve).
 */
import * as math from 'mathjs';
import * as CRC32 from 'crc-32';
import type * as MathJs from 'mathjs';

export const HOST = 'web';

const noFiles = (what: string) => new Error(`${what}: a web page has no file system; read and write models as bytes (serializeNetwork, deserializeNetwork)`);

export async function readFile(file: string): Promise<Uint8Array> {
  throw noFiles(`reading ${file}`);
}

export const WRITE_TEMPORARY = /\.tmp-\d+$/;

export async function makeDirectory(dir: string): Promise<void> {
  throw noFiles(`creating ${dir}`);
}

export async function writeFileAtomic(file: string): Promise<void> {
  throw noFiles(`writing ${file}`);
}

/** CRC-32 (IEEE) of `bytes`, unsigned: the `crc-32` package's, the same as zlib's. */
export function crc32(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}

export function loadMathjs(): typeof MathJs {
  return math as typeof MathJs;
}

export function sobolDirections(): string {
  throw new Error("sampling 'qmc' needs the Joe–Kuo direction numbers, which the web build leaves out (1.8 MB); use sampling 'mc' or 'antithetic' in a page");
}

export function wasmKernels(): Uint8Array | undefined {
  return undefined;
}

export const wasmKernelsRelaxed = (): boolean | undefined => undefined;
