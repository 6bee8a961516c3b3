/**
 * Choosing the tensor backend in a web page. `auto` tries, in order: `webgpu` (when
 * `navigator.gpu` gives an adapter), `webgl` (WebGL 2), `wasm`, `cpu` — the GPU first, as Node's
 * `auto` tries CUDA first, but a GPU backend on a software renderer only after wasm — and reports
 * what it took and why, as {@link initBackend} does in Node.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { SpikelrError } from '../core/errors.js';

export const WEB_BACKEND_CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type WebBackendChoice = (typeof WEB_BACKEND_CHOICES)[number];

export interface WebBackendReport {
  /** The tfjs backend now active. */
  readonly name: Exclude<WebBackendChoice, 'auto'>;
  readonly requested: WebBackendChoice;
  /** Every candidate tried, in order, with why it was or was not taken. */
  readonly attempts: readonly { readonly candidate: string; readonly ok: boolean; readonly detail: string }[];
  /** One line: the backend, what it runs on, what was skipped and why. */
  readonly notice: string;
}

export interface WebBackendOptions {
  readonly backend?: WebBackendChoice;
  /** Where the wasm backend's .wasm files are (a URL ending in '/'); default: beside the page. */
  readonly wasmPath?: string;
}

const PLAN: Record<WebBackendChoice, readonly Exclude<WebBackendChoice, 'auto'>[]> = {
  auto: ['webgpu', 'webgl', 'wasm', 'cpu'],
  webgpu: ['webgpu'],
  webgl: ['webgl'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/** The slice of the DOM used here (tsconfig's lib has no DOM types: the library also builds for Node). */
interface Host {
  readonly navigator?: { readonly gpu?: { requestAdapter(): Promise<object | null> } };
  readonly location?: { readonly href: string; readonly protocol?: string };
}
interface Adapter {
  readonly isFallbackAdapter?: boolean;
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly description?: string; readonly isFallbackAdapter?: boolean };
}
interface Gl {
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null;
  getParameter(p: number): unknown;
  readonly RENDERER: number;
}
const host = globalThis as unknown as Host;

/** A renderer or adapter that draws on the CPU (no GPU behind it). */
const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render|microsoft basic/i;

interface Started {
  readonly detail: string;
  /** The GPU backend runs on a software renderer (slower than wasm on the same CPU). */
  readonly software: boolean;
}

async function attempt(candidate: Exclude<WebBackendChoice, 'auto'>, o: WebBackendOptions): Promise<Started> {
  if (candidate === 'webgpu') {
    const gpu = host.navigator?.gpu;
    if (!gpu) throw new Error('navigator.gpu is missing (no WebGPU in this browser)');
    const adapter = (await gpu.requestAdapter()) as Adapter | null;
    if (!adapter) throw new Error('navigator.gpu gave no adapter');
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    chunkWebgpuAddN();
    if (!(await tf.setBackend('webgpu'))) throw new Error('failed to initialise');
    await tf.ready();
    return {
      detail: `WebGPU${name ? ` on ${name}` : ''}`,
      software: adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || SOFTWARE.test(name),
    };
  }
  if (candidate === 'wasm') {
    const base = o.wasmPath ?? new URL('..', host.location?.href ?? 'file:///').href;
    // browsers refuse to fetch a page's own files under file:// (CORS): say so instead of a console error
    if (base.startsWith('file:'))
      throw new Error('its .wasm files cannot be fetched by a page opened from file://; serve the folder (any static server) or pass wasmPath');
    setWasmPaths(base);
  }
  if (!(await tf.setBackend(candidate))) throw new Error('failed to initialise');
  await tf.ready();
  if (candidate === 'webgl') {
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: Gl } }).gpgpu?.gl;
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl && info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : gl ? String(gl.getParameter(gl.RENDERER)) : 'unknown renderer';
    return { detail: `WebGL ${tf.env().getNumber('WEBGL_VERSION')} on ${renderer}`, software: SOFTWARE.test(renderer) };
  }
  return { detail: candidate === 'wasm' ? `WebAssembly${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ' with SIMD' : ''}` : 'pure JavaScript', software: false };
}

/**
 * tfjs-backend-webgpu 4.22's AddN binds every input at once: past the device's storage-buffer limit
 * (8 per shader stage by default) the pipeline is invalid and the sum silently wrong. LR sums a
 * time-constant input's adjoints over the T steps with addN. The override adds at most limit − 1
 * inputs per program, then the partial sums, as the stock Concat already does for its inputs.
 */
let addNChunked = false;
function chunkWebgpuAddN(): void {
  if (addNChunked) return;
  const stock = tf.getKernel('AddN', 'webgpu');
  if (!stock) return;
  addNChunked = true;
  type Args = {
    inputs: tf.TensorInfo[];
    backend: { device: { limits: { maxStorageBuffersPerShaderStage: number } }; disposeData(id: object): void };
    attrs: object;
  };
  const run = stock.kernelFunc as unknown as (a: Args) => tf.TensorInfo;
  const chunked = (args: Args): tf.TensorInfo => {
    const most = Math.max(2, args.backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    if (args.inputs.length <= most) return run(args);
    const partial: tf.TensorInfo[] = [];
    for (let i = 0; i < args.inputs.length; i += most) {
      const group = args.inputs.slice(i, i + most);
      partial.push(group.length === 1 ? group[0]! : run({ ...args, inputs: group }));
    }
    const sum = chunked({ ...args, inputs: partial });
    for (const t of partial) if (!args.inputs.includes(t)) args.backend.disposeData(t.dataId);
    return sum;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({
    ...stock,
    kernelFunc: ((args: { inputs: Record<string, tf.TensorInfo> | tf.TensorInfo[] } & Omit<Args, 'inputs'>) =>
      chunked({ ...args, inputs: Array.isArray(args.inputs) ? args.inputs : Object.values(args.inputs) })) as unknown as tf.KernelFunc,
  });
}

let current: WebBackendReport | undefined;

/** The report of the last {@link initWebBackend}, or undefined before the first. */
export function webBackendReport(): WebBackendReport | undefined {
  return current;
}

/**
 * Selects and initialises the backend; a named backend that cannot start is an error naming why.
 * `auto` takes a GPU only when a GPU is behind it: a software renderer (SwiftShader, llvmpipe) is
 * tried after wasm, which is several times faster on the same CPU.
 */
export async function initWebBackend(o: WebBackendOptions = {}): Promise<WebBackendReport> {
  const requested = o.backend ?? 'auto';
  if (!(WEB_BACKEND_CHOICES as readonly string[]).includes(requested))
    throw new SpikelrError(`backend: unknown backend '${requested}'; expected one of ${WEB_BACKEND_CHOICES.join(', ')}`);
  tf.enableProdMode();
  const attempts: { candidate: string; ok: boolean; detail: string }[] = [];
  const deferred: { candidate: Exclude<WebBackendChoice, 'auto'>; detail: string }[] = [];
  const take = (candidate: Exclude<WebBackendChoice, 'auto'>, detail: string): WebBackendReport => {
    attempts.push({ candidate, ok: true, detail });
    const skipped = attempts.filter((a) => !a.ok).map((a) => `${a.candidate}: ${a.detail}`);
    const notice = `spikelr: backend ${candidate} (${detail}; ${requested}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''})`;
    return (current = { name: candidate, requested, attempts, notice });
  };
  for (const candidate of PLAN[requested]) {
    try {
      const started = await attempt(candidate, o);
      if (requested === 'auto' && started.software) {
        attempts.push({ candidate, ok: false, detail: `software rendering (${started.detail}), tried after wasm` });
        deferred.push({ candidate, detail: started.detail });
        continue;
      }
      return take(candidate, started.detail);
    } catch (err) {
      attempts.push({ candidate, ok: false, detail: (err as Error).message.split('\n')[0]! });
    }
    // past wasm: a software GPU before pure JavaScript (webgl's is the faster of the two)
    if (candidate === 'wasm') {
      for (const d of [...deferred].sort((a, b) => (a.candidate === 'webgl' ? -1 : b.candidate === 'webgl' ? 1 : 0))) {
        if (await tf.setBackend(d.candidate)) {
          attempts.splice(
            attempts.findIndex((a) => a.candidate === d.candidate),
            1,
          );
          return take(d.candidate, d.detail);
        }
      }
    }
  }
  throw new SpikelrError(`backend: could not start '${requested}': ${attempts.map((a) => `${a.candidate} (${a.detail})`).join('; ')}`);
}
