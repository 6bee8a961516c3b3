/**
 * HDF5 through h5wasm, shared by the readers and writers of HDF5 formats (SHD, NIR): the library
 * loaded once (and again after it aborts), a signature check, and the library's diagnostics turned
 * into one error naming the file.
 */
import nodeFs, { promises as fs } from 'node:fs';
import type * as H5 from 'h5wasm/node';
import { SpikelrError } from '../core/errors.js';

export type { Dataset as H5Dataset, Group as H5Group, File as H5File } from 'h5wasm/node';
export type H5Library = typeof H5;

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The HDF5 superblock signature sits at byte 0, 512, 1024 or 2048 (a user block may precede it). */
export async function hasHdf5Signature(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return [0, 512, 1024, 2048].some((at) => at + 8 <= bytesRead && head.subarray(at, at + 8).equals(SIGNATURE));
  } finally {
    await handle.close();
  }
}

let h5: Promise<H5Library> | undefined;
let instances = 0;

/**
 * h5wasm, loaded once; after the HDF5 library aborts on a corrupt file its wasm instance is dead,
 * so the next read loads a fresh one (a new module URL is a new instance).
 */
export function h5wasm(): Promise<H5Library> {
  h5 ??= (async () => {
    const url = import.meta.resolve('h5wasm/node');
    const m = (await import(instances++ === 0 ? url : `${url}?instance=${instances}`)) as H5Library;
    await m.ready;
    return m;
  })();
  return h5;
}

/** Whether the HDF5 library's wasm instance aborted (it is dead from then on). */
export const isAbort = (err: unknown) => (err as Error)?.constructor?.name === 'RuntimeError' || /Aborted\(/.test(String((err as Error)?.message));

/**
 * Runs `f` with what the HDF5 library prints to stderr held back (h5wasm writes its error stack
 * there, through fs.writeSync): a failure becomes one error, `describe(HDF5's own reason, whether
 * it aborted)`, not a page of diagnostics. A wasm abort marks the library instance dead.
 */
export function quietly<T>(describe: (reason: string, aborted: boolean) => string, f: () => T): T {
  // the wasm build writes to file descriptor 2 with fs.writeSync
  const writeSync = nodeFs.writeSync;
  let diagnostics = '';
  nodeFs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    if (typeof data === 'string') {
      diagnostics += data;
      return data.length;
    }
    const offset = typeof rest[0] === 'number' ? rest[0] : 0,
      length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
    diagnostics += Buffer.from(data.buffer, data.byteOffset + offset, length).toString('utf8');
    return length;
  }) as typeof nodeFs.writeSync;
  // and its abort message with console.error
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    diagnostics += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return f();
  } catch (err) {
    if (err instanceof SpikelrError) throw err;
    const aborted = isAbort(err);
    if (aborted) h5 = undefined;
    const reason =
      /minor: (.*)/.exec(diagnostics)?.[1]?.trim() ?? /#\d+: .*? line \d+ in [^:]*: (.*)/.exec(diagnostics)?.[1]?.trim() ?? (err as Error)?.message;
    throw new SpikelrError(describe(reason, aborted));
  } finally {
    nodeFs.writeSync = writeSync;
    process.stderr.write = write;
  }
}
