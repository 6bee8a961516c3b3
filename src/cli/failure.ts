/**
 * How a command's failure reaches the user: one line for what the user can fix (a SpikelrError, a
 * file-system refusal naming the path and the cause, the backend out of memory), exit 1; a stack
 * for anything else, which is a bug (exit 70).
 */
import { isBackendOutOfMemory, outOfMemoryAdvice, SpikelrError } from '../core/errors.js';

/**
 * Errors that escape a command. A SpikelrError is the user's to fix: its message alone. The wasm
 * backend aborts when its 4 GiB heap is exhausted, sometimes from inside tfjs's asynchronous kernel
 * timing (as an unhandled rejection); that gets a message saying what to lower. Anything else is a
 * bug: its stack.
 */
export function fail(err: unknown): never {
  const refused = fileSystemError(err);
  if (err instanceof SpikelrError) process.stderr.write(`spikelr: error: ${err.message}\n`);
  else if (refused) process.stderr.write(`spikelr: error: ${refused}\n`);
  else if (isBackendOutOfMemory(err)) {
    process.stderr.write(
      `spikelr: error: the tensor backend failed, ${outOfMemoryAdvice(err, { batch: '--batch-size', copies: '--copies', steps: '--steps', timeChunk: '--time-chunk auto' })}\n`,
    );
  } else {
    process.stderr.write(`spikelr: internal error (please report it with this trace):\n${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(70);
  }
  process.exit(1);
}

/** What the file system refused, as one line naming the path and the cause; undefined for other errors. */
function fileSystemError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const cause = FS_CAUSES[e?.code ?? ''];
  if (!cause || typeof e.syscall !== 'string') return undefined;
  const what = e.path ? `${e.path}${e.dest ? ` → ${e.dest}` : ''}` : 'a file';
  return `cannot ${FS_VERBS[e.syscall] ?? e.syscall} ${what}: ${cause} (${e.code})`;
}

const FS_CAUSES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'it already exists',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
  ENOTEMPTY: 'the directory is not empty',
  EBUSY: 'it is busy',
};
const FS_VERBS: Record<string, string> = {
  open: 'open',
  mkdir: 'create the directory',
  write: 'write',
  rename: 'rename',
  unlink: 'remove',
  rm: 'remove',
  rmdir: 'remove',
  scandir: 'read the directory',
  stat: 'read',
  read: 'read',
  fsync: 'write',
  ftruncate: 'truncate',
  truncate: 'truncate',
  copyfile: 'copy',
};
