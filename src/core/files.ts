/** Reading a file the user named, with errors that name it (platform/node.ts or, in the browser build, platform/web.ts reads it). */
import { SpikelrError } from './errors.js';
import { readFile } from './platform/node.js';

/** Reads a whole file; a missing or unreadable one is a {@link SpikelrError} naming it as `what`. */
export async function readFileNamed(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new SpikelrError(code === 'ENOENT' ? `${path}: no such ${what}` : `${path}: cannot read (${(err as Error).message})`);
  }
}
