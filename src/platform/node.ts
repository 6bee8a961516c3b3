/**
 * What spikelr takes from its host, in Node: files, a checksum, mathjs loaded on first use, the
 * Joe–Kuo table of the `sobol` package and the compiled wasm kernels. The browser build
 * (`npm run build:web`, scripts/build-web.mjs) puts ./web.ts in this module's place; apart from
 * the Node-only entry points it leaves out (the CLI, the trainer's run directories, worker threads,
 * the dataset file loaders, the backend probe), nothing else in src/ imports a `node:` module.
 */
import { readFileSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import type * as MathJs from 'mathjs';
// errors.ts reads files through this module; both only call each other's functions, never at load
import { namingFile } from '../errors.js';

export const HOST = 'node';

/** The bytes of a file (rejects with the system's error: ENOENT, EACCES, …). */
export async function readFile(file: string): Promise<Uint8Array> {
  return fs.readFile(file);
}

/** The name of the temporary {@link writeFileAtomic} writes (`<file>.tmp-<pid>`); one a crash left behind matches too. */
export const WRITE_TEMPORARY = /\.tmp-\d+$/;

/** Writes `bytes` to `file` atomically: a temporary file, flushed, renamed over the target. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    namingFile(file)(err);
  } finally {
    await handle.close();
  }
  // fault injection (the test suite's kill -9 during a write): hold the written temporary this long before the rename
  const delay = Number(process.env['SPIKELR_FAULT_WRITE_DELAY_MS'] ?? 0);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  await fs.rename(tmp, file);
}

/** CRC-32 (IEEE) of `bytes`, unsigned. */
export function crc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes);
}

/** mathjs (about a second to import: loaded when a formula first needs it, not at start-up). */
export function loadMathjs(): typeof MathJs {
  return createRequire(import.meta.url)('mathjs') as typeof MathJs;
}

/** The text of the `sobol` package's Joe–Kuo direction numbers (new-joe-kuo-6.21201). */
export function sobolDirections(): string {
  const require = createRequire(import.meta.url);
  return readFileSync(path.join(path.dirname(require.resolve('sobol/package.json')), 'dims21201.txt'), 'utf8');
}

/** The bytes of spikelr's own wasm kernels (src/sim/assembly/, built by `npm run build:wasm`). */
export function wasmKernels(): Uint8Array {
  const file = new URL('../sim/assembly/kernels.wasm', import.meta.url);
  try {
    return readFileSync(file);
  } catch {
    throw new Error(`spikelr: ${file.pathname} is missing; run 'npm run build' (it compiles src/sim/assembly/ with AssemblyScript)`);
  }
}
