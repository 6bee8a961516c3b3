// Compiles spikelr's AssemblyScript kernels (src/kernels/assembly/) twice: kernels.wasm with SIMD,
// and kernels-relaxed.wasm with relaxed SIMD too (fused multiply–add in dense.ts), which
// src/core/platform/node.ts loads where the engine validates it. Both are copied into dist/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const asc = path.join(path.dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
const dir = 'src/kernels/assembly';
const sources = ['sparse', 'dense', 'random', 'reduce', 'bits', 'lif', 'adam', 'credit'].map((name) => `${dir}/${name}.ts`);
const common = ['-O3', '--runtime', 'stub', '--importMemory', '--noExportMemory', '--noAssert', '--initialMemory', '0'];
const builds = { 'kernels.wasm': 'simd', 'kernels-relaxed.wasm': 'simd,relaxed-simd' };
mkdirSync(`dist/${dir}`, { recursive: true });
for (const [file, features] of Object.entries(builds)) {
  execFileSync(process.execPath, [asc, ...sources, '-o', `${dir}/${file}`, ...common, '--enable', features], { stdio: 'inherit' });
  copyFileSync(`${dir}/${file}`, `dist/${dir}/${file}`);
}
