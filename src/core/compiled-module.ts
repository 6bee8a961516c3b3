/** Where a worker thread's module is (Node only: thread pools in kernels/ and learning/ start workers from it). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The compiled JavaScript of a module: itself, or, for a TypeScript source run directly (the test
 * runner), its build under dist/ — worker threads run plain Node, which cannot load TypeScript.
 */
export function compiledModule(file: string): string {
  if (!file.endsWith('.ts')) return file;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.join(root, 'dist', path.relative(root, file)).replace(/\.ts$/, '.js');
}
