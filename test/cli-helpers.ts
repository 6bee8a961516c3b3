/** What the CLI test files share: the built command, run as a child process on the wasm backend. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const main = path.resolve('dist/src/cli/main.js');

/** Runs `spikelr …args`; never throws, returns the exit code and both streams. */
export async function spikelr(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return spikelrWith({}, ...args);
}

/** {@link spikelr} with these environment variables besides the process's. */
export async function spikelrWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...args], { env: { ...process.env, SPIKELR_BACKEND: 'wasm', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
