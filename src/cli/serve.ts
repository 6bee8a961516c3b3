/**
 * `spikelr serve`: the web build (dist/web/: the playground, the backend check page) over http on
 * this machine, so that the page can also load the wasm backend (a page opened from file:// cannot
 * fetch its binaries). Static files only, from that one folder.
 */
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpikelrError } from '../core/errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/** dist/web beside this module's build (dist/src/cli → dist/web). */
export function webFolder(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

/** Starts the server; resolves with its address once it listens. */
export async function serve(o: { readonly port: number; readonly host: string; readonly root?: string }): Promise<{ url: string; close(): Promise<void> }> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    throw new SpikelrError(`--port must be an integer from 0 to 65535 (0: any free port), got ${o.port}`);
  const root = o.root ?? webFolder();
  if (!existsSync(path.join(root, 'index.html'))) throw new SpikelrError(`${root} has no index.html: build the web page first (npm run build:web)`);
  const server = http.createServer((req, res) => {
    const wanted = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = path.join(root, path.normalize(wanted === '/' ? '/index.html' : wanted));
    // nothing outside the folder
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${wanted}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new SpikelrError(`port ${o.port} is in use; choose another with --port`) : err),
    );
    server.listen(o.port, o.host, resolve);
  });
  const { port } = server.address() as { port: number };
  return { url: `http://${o.host === '0.0.0.0' ? 'localhost' : o.host}:${port}/`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
