/**
 * Choosing the tensor backend (DESIGN.md §5).
 *
 * `auto` tries, in order: `tensorflow` through `@tensorflow/tfjs-node-gpu` (CUDA), `tensorflow`
 * through `@tensorflow/tfjs-node` (native CPU), `wasm` (the embedded default), `cpu`. The native
 * packages download a library when installed, so they are optional peers: a machine without them
 * runs on wasm and says so in one line.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from './wasm-kernels.js';
import { installSpikeMatMul } from './spike-matmul.js';
import { installUniformKernel } from './uniform-kernel.js';
import { installBitKernels } from './spike-bits.js';
import { installNoisyLifKernel } from './noisy-lif-kernel.js';
import { installAdamKernel } from './adam-kernel.js';
import { installLifSequenceKernels } from './lif-sequence.js';
import { installRecurrentLoopKernels } from './recurrent-loops.js';
import { installWeightedStepsKernels } from './weighted-steps.js';
import { installCreditKernel } from './credit-kernel.js';
import { productThreads, setProductThreads, splitProduct, splitRows } from './product-threads.js';
import { installRowSplitter } from './lif-recurrent-sequence.js';
import { createRequire } from 'node:module';
import path from 'node:path';
import { SpikelrError } from '../core/errors.js';
import { wasmKernelsRelaxed } from '../core/platform/node.js';
import { kernelsFor, type WasmBackend } from './wasm-module.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export interface BackendAttempt {
  readonly candidate: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface BackendReport {
  /** The tfjs backend now active. */
  readonly name: BackendName;
  /** What was asked for, and where the request came from. */
  readonly requested: BackendChoice;
  readonly source: 'option' | 'SPIKELR_BACKEND' | 'default';
  /** Every candidate tried, in order, with why it was or was not taken. */
  readonly attempts: readonly BackendAttempt[];
  /** The one-line notice printed when the backend was chosen. */
  readonly notice: string;
}

export interface BackendOptions {
  /** `auto | tensorflow | wasm | cpu`; falls back to `SPIKELR_BACKEND`, then `auto`. */
  readonly backend?: string;
  /** Where the one-line notice goes; `null` silences it. Default: standard error. */
  readonly log?: ((line: string) => void) | null;
  /**
   * Threads for large matrix products on wasm (src/kernels/product-threads.ts): 1 (default), 2, or
   * 'auto' (2 on a machine with two cores or more). Results are the same bits either way.
   */
  readonly threads?: number | 'auto';
}

const require = createRequire(import.meta.url);
let current: BackendReport | undefined;

/** The report of the last {@link initBackend}, or undefined before the first. */
export function backendReport(): BackendReport | undefined {
  return current;
}

function parseChoice(value: string, source: string): BackendChoice {
  const v = value.trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new SpikelrError(`backend: unknown backend '${value}' (from ${source}); expected one of ${BACKEND_CHOICES.join(', ')}`);
}

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

async function tryNative(pkg: string): Promise<BackendAttempt> {
  if (!installed(pkg)) return { candidate: pkg, ok: false, detail: 'not installed' };
  try {
    // A variable specifier keeps tsc and bundlers from requiring the optional package.
    const specifier: string = pkg;
    await import(specifier);
    const ok = await tf.setBackend('tensorflow');
    if (!ok) return { candidate: pkg, ok: false, detail: 'loaded, but the tensorflow backend failed to initialise' };
    return { candidate: pkg, ok: true, detail: 'native TensorFlow' };
  } catch (err) {
    return { candidate: pkg, ok: false, detail: message(err) };
  }
}

async function tryWasm(): Promise<BackendAttempt> {
  try {
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    setWasmPaths(dist);
    const ok = await tf.setBackend('wasm');
    if (!ok) return { candidate: 'wasm', ok: false, detail: 'the wasm backend failed to initialise' };
    await tf.ready();
    installWasmKernels();
    installSpikeMatMul(splitProduct);
    installRowSplitter(splitRows);
    installUniformKernel();
    installBitKernels();
    installNoisyLifKernel();
    installAdamKernel();
    installLifSequenceKernels();
    installRecurrentLoopKernels();
    installWeightedStepsKernels();
    installCreditKernel();
    // spikelr's kernels loaded now, so the line below can say which build runs (and a missing build fails here)
    kernelsFor(tf.backend() as unknown as WasmBackend);
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const fma = wasmKernelsRelaxed() ? ' and fused multiply–add' : '';
    return { candidate: 'wasm', ok: true, detail: simd ? `WebAssembly with SIMD${fma}` : 'WebAssembly without SIMD' };
  } catch (err) {
    return { candidate: 'wasm', ok: false, detail: message(err) };
  }
}

async function tryCpu(): Promise<BackendAttempt> {
  const ok = await tf.setBackend('cpu');
  return { candidate: 'cpu', ok, detail: ok ? 'pure JavaScript' : 'the cpu backend failed to initialise' };
}

const PLANS: Record<BackendChoice, readonly string[]> = {
  auto: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'wasm', 'cpu'],
  tensorflow: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/**
 * Selects and initialises the tensor backend, printing one line that says which runs and why.
 * Asking for a specific backend that cannot start is an error naming what was tried; `auto`
 * falls through its list.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendReport> {
  const fromEnv = process.env['SPIKELR_BACKEND'];
  const source = options.backend !== undefined ? 'option' : fromEnv ? 'SPIKELR_BACKEND' : 'default';
  const requested = parseChoice(options.backend ?? fromEnv ?? 'auto', source === 'option' ? 'the backend option' : source);
  // tfjs prints its own banners (e.g. "install our node backend") through console.warn unless in prod mode;
  // our notice below replaces them.
  tf.enableProdMode();

  const attempts: BackendAttempt[] = [];
  for (const candidate of PLANS[requested]) {
    const attempt = candidate === 'wasm' ? await tryWasm() : candidate === 'cpu' ? await tryCpu() : await tryNative(candidate);
    attempts.push(attempt);
    if (!attempt.ok) continue;
    const name = tf.getBackend() as BackendName;
    // the native backends run their own thread pools; the helper serves the wasm kernels
    setProductThreads(name === 'wasm' ? (options.threads ?? 1) : 1);
    const threads = productThreads() > 1 ? ', large products on 2 threads' : '';
    const skipped = attempts.filter((a) => !a.ok).map((a) => `${a.candidate}: ${a.detail}`);
    const why = source === 'default' ? 'auto' : `${requested} from ${source === 'option' ? '--backend' : source}`;
    const notice = `spikelr: backend ${name} (${attempt.detail}${threads}; ${why}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''})`;
    current = { name, requested, source, attempts, notice };
    if (options.log !== null) (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(notice);
    return current;
  }
  throw new SpikelrError(
    `backend: could not start '${requested}': ${attempts.map((a) => `${a.candidate} (${a.detail})`).join('; ')}. ` +
      `Install the native package (npm install @tensorflow/tfjs-node) or choose --backend wasm.`,
  );
}

/** Versions of the packages that decide numerics, for `spikelr info` and benchmark records. */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.versions.node };
  for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      out[pkg] = (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      out[pkg] = 'not installed';
    }
  }
  return out;
}
