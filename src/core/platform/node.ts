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
import v8 from 'node:v8';
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
  // fault injection (the test suite's full disk): a file whose name matches SPIKELR_FAULT_FULL_DISK is written to /dev/full, which fails with ENOSPC
  const full = process.env['SPIKELR_FAULT_FULL_DISK'];
  const handle = await fs.open(full && new RegExp(full).test(path.basename(file)) ? '/dev/full' : tmp, 'w').catch((err: NodeJS.ErrnoException) => {
    // the user named the file, not its temporary
    err.path = file;
    throw err;
  });
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

/**
 * `mkdir -p` that always ends: Node's recursive mkdir spins forever where a directory exists but
 * cannot hold the child (procfs, a dangling symlink: mkdir of the child says ENOENT, of its parent
 * EEXIST, and Node's walk goes back and forth). This walks up to the first existing ancestor once
 * (at most the path's depth) and creates the missing directories top down, once each; any refusal
 * is final and rejects with the system's error (code, syscall 'mkdir', path).
 */
export async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  // what stops the walk is reported as the mkdir it prevents (ENOTDIR: a file in the path; EACCES, …)
  const refused = (code: string) => Object.assign(new Error(`${code}: cannot create the directory '${dir}'`), { code, syscall: 'mkdir', path: dir });
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    const kind = await fs.stat(p).then(
      (s) => (s.isDirectory() ? 'directory' : 'file'),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw refused(err.code ?? 'EIO');
        return 'missing' as const;
      },
    );
    if (kind === 'file') throw refused('ENOTDIR');
    if (kind === 'directory') break;
    missing.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const d of missing.reverse()) {
    await fs.mkdir(d).catch((err: NodeJS.ErrnoException) => {
      // made meanwhile by another process: fine, if it is a directory (the next mkdir or use says otherwise)
      if (err.code !== 'EEXIST') throw err;
    });
  }
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

/**
 * The bytes of spikelr's own wasm kernels (src/kernels/assembly/, built by `npm run build:wasm`):
 * the relaxed-SIMD build (fused multiply–add in the dense products) where this engine runs it —
 * Node 20 once V8's `--experimental-wasm-relaxed-simd` is set, which is done here; later Nodes
 * by default — and the SIMD build otherwise or with `SPIKELR_RELAXED_SIMD=0` (then dense products
 * round as tfjs' own kernel does, the same bits on every machine). {@link wasmKernelsRelaxed} says which.
 */
export function wasmKernels(): Uint8Array {
  const wanted = process.env['SPIKELR_RELAXED_SIMD'];
  if (wanted !== undefined && wanted !== '0' && wanted !== '1') throw new Error(`SPIKELR_RELAXED_SIMD must be 0 or 1, got '${wanted}'`);
  if (wanted !== '0') {
    const bytes = kernelFile('kernels-relaxed.wasm');
    const runs = () => WebAssembly.validate(bytes);
    if (!runs()) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    if (runs()) {
      relaxed = true;
      return bytes;
    }
    if (wanted === '1')
      throw new Error(`SPIKELR_RELAXED_SIMD=1, but this engine (Node ${process.version}) does not run relaxed SIMD; unset it to use the SIMD kernels`);
  }
  relaxed = false;
  return kernelFile('kernels.wasm');
}

let relaxed: boolean | undefined;
/** Whether the loaded kernels are the relaxed-SIMD build (undefined before {@link wasmKernels}). */
export const wasmKernelsRelaxed = (): boolean | undefined => relaxed;

declare const WebAssembly: { validate(bytes: Uint8Array): boolean };

function kernelFile(name: string): Uint8Array {
  const file = new URL(`../../kernels/assembly/${name}`, import.meta.url);
  try {
    return readFileSync(file);
  } catch {
    throw new Error(`spikelr: ${file.pathname} is missing; run 'npm run build' (it compiles src/kernels/assembly/ with AssemblyScript)`);
  }
}
