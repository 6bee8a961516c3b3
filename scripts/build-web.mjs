// The browser build (`npm run build:web`): src/api/web.ts bundled by esbuild into dist/web/spikelr.js
// (one ES module, tfjs included), with src/core/platform/web.ts in place of src/core/platform/node.ts, and the
// wasm backend's binaries beside it. Importing any other `node:` module is an error here: it means
// a Node-only part slipped into the portable API.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packMnist } from './pack-mnist.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
const require = createRequire(import.meta.url);

const platform = {
  name: 'spikelr-web-platform',
  setup(b) {
    b.onResolve({ filter: /platform\/node\.js$/ }, () => ({ path: path.join(root, 'src', 'core', 'platform', 'web.ts') }));
    b.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${args.path} imported by ${path.relative(root, args.importer)}: a Node-only module in the web build` }],
    }));
  },
};

mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [path.join(root, 'src', 'api', 'web.ts')],
  outfile: path.join(out, 'spikelr.js'),
  bundle: true,
  format: 'iife',
  globalName: 'spikelr',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [platform],
});
// the pages of web/, beside the bundle they load
for (const f of readdirSync(path.join(root, 'web')).filter((f) => f.endsWith('.html') || f.endsWith('.js')))
  copyFileSync(path.join(root, 'web', f), path.join(out, f));
const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(path.join(wasmDir, f), path.join(out, f));
const digits = packMnist(path.join(out, 'mnist-subset.js'));
const bytes = statSync(path.join(out, 'spikelr.js')).size;
process.stdout.write(
  `dist/web/spikelr.js: ${(bytes / 2 ** 20).toFixed(2)} MiB from ${Object.keys(result.metafile.inputs).length} modules; mnist-subset.js ${(digits / 2 ** 20).toFixed(2)} MiB\n`,
);
