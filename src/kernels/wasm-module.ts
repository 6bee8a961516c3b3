/**
 * spikelr's own wasm kernels (`src/sim/assembly/`, AssemblyScript compiled with SIMD by
 * `npm run build:wasm`) and what they share with tfjs-backend-wasm: the module imports the
 * backend's memory, so its functions take the heap offsets of tensors and write into tensors the
 * backend allocated, with no copies in or out. One instance per backend memory.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmKernels } from '../core/platform/node.js';

/** The slice of the WebAssembly API used here (tsconfig's ES lib has no WebAssembly types). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

/** The parts of tfjs-backend-wasm's BackendWasm that kernels use. */
export interface WasmBackend {
  wasm: {
    _malloc(bytes: number): number;
    _free(offset: number): void;
    asm: { memory: object };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
}

export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
}

/** The functions of `kernels.wasm`; every pointer is a byte offset in the backend's heap. */
export interface Kernels {
  countNonzero(a: number, n: number): number;
  compress(a: number, rows: number, cols: number, stride: number, starts: number, index: number, values: number): number;
  transposeRows(rows: number, cols: number, starts: number, index: number, values: number, tStarts: number, tIndex: number, tValues: number): void;
  stripeColumns(b: number, k: number, n: number, out: number): void;
  accumulate(starts: number, index: number, values: number, m: number, b: number, k: number, n: number, c: number, ones: number, stripes: number): void;
  panelFloats(k: number, n: number): number;
  packPanels(b: number, k: number, n: number, transposed: number, out: number): void;
  panelProduct(a: number, lda: number, m: number, k: number, packed: number, n: number, c: number, ldc: number): void;
  scan16(a: number, rows: number, cols: number, b16: number, c16: number, transposeA: number): void;
  padRows(src: number, rows: number, n: number, dst: number, stride: number): void;
  unpadRows(src: number, rows: number, stride: number, dst: number, n: number): void;
  fillUniforms(out: number, count: number, key: number, counter: number): void;
  mirror(out: number, src: number, count: number): void;
  sumRows(x: number, rows: number, cols: number, out: number): void;
  weightedRows(x: number, rows: number, cols: number, weights: number, out: number, accumulate: number): void;
  spreadRows(g: number, rows: number, cols: number, weights: number, out: number): void;
  zero(at: number, bytes: number): void;
  creditStep(
    sum: number,
    s: number,
    a: number,
    factor: number,
    groups: number,
    inv: number,
    G: number,
    scratch: number,
    seed: number,
    K: number,
    cols: number,
    outSum: number,
    out: number,
  ): void;
  packBits(x: number, n: number, out: number): number;
  unpackBits(bits: number, n: number, out: number): void;
  noisyLif(
    drive: number,
    driveRows: number,
    membrane: number,
    spikes: number,
    uniforms: number,
    rows: number,
    n: number,
    beta: number,
    threshold: number,
    sigma: number,
    reset: number,
    outMembrane: number,
    outSpikes: number,
    outScore: number,
  ): void;
  adam(
    theta: number,
    m: number,
    s: number,
    g: number,
    n: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    rate: number,
    c2: number,
    epsilon: number,
    outTheta: number,
    outM: number,
    outS: number,
  ): void;
  lifAdjoint(
    psi: number,
    weights: number,
    next: number,
    beta: number,
    rows: number,
    n: number,
    inputRows: number,
    outLambda: number,
    outContracted: number,
  ): void;
  lifSequence(currents: number, steps: number, m: number, beta: number, threshold: number, reset: number, outMembrane: number, outSpikes: number): void;
  lifSequenceAdjoint(
    slope: number,
    kind: number,
    c: number,
    a: number,
    upstream: number,
    spikes: number,
    membrane: number,
    steps: number,
    m: number,
    beta: number,
    threshold: number,
    reset: number,
    detach: number,
    outCurrent: number,
  ): void;
  recurrentAdjointStep(
    t: number,
    slope: number,
    kind: number,
    c: number,
    a: number,
    upstream: number,
    product: number,
    spikes: number,
    membrane: number,
    steps: number,
    m: number,
    stepFloats: number,
    beta: number,
    threshold: number,
    reset: number,
    detach: number,
    outCurrent: number,
    copy: number,
  ): void;
  recurrentLifSequence(
    drives: number,
    steps: number,
    rows: number,
    n: number,
    stepFloats: number,
    v: number,
    beta: number,
    threshold: number,
    reset: number,
    outMembrane: number,
    outSpikes: number,
    starts: number,
    index: number,
    ones: number,
    sum: number,
    stripes: number,
  ): void;
}

let bytes: Uint8Array | undefined;
const instances = new WeakMap<object, Kernels>();

/** The kernels bound to `backend`'s heap (instantiated on first use). */
export function kernelsFor(backend: WasmBackend): Kernels {
  const memory = backend.wasm.asm.memory;
  let k = instances.get(memory);
  if (!k) {
    bytes ??= wasmKernels();
    if (!bytes) throw new Error('spikelr: this build has no wasm kernels of its own (the web build uses the stock ones)');
    k = kernelsFrom(bytes, memory);
    instances.set(memory, k);
  }
  return k;
}

/** A build of the kernels (`kernels.wasm` or `kernels-relaxed.wasm`) instantiated on a backend's `memory`. */
export function kernelsFrom(bytes: Uint8Array, memory: object): Kernels {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Kernels;
}

/** Byte offset of a tensor's data in the heap. */
export const heapOffset = (backend: WasmBackend, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId).memoryOffset;

/** Registers `kernel` as the wasm backend's kernel `name` (spikelr's own kernels; each file's install calls it once). */
export function registerWasmKernel(name: string, kernel: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]): void {
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernel as unknown as tf.KernelFunc });
}

/** A kernel function as the wasm backend calls it. */
export type WasmKernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/**
 * Replaces the wasm backend's kernel `name` by `kernel`, which is handed the stock kernel to fall
 * back on. The stock kernel's setup (its bindings to the backend's exports) and disposal stay
 * registered, so they still run whenever a wasm backend initialises. False when there is no such
 * stock kernel.
 */
export function overrideKernel(name: string, kernel: (args: KernelArgs, stock: WasmKernel) => tf.TensorInfo | tf.TensorInfo[]): boolean {
  const config = tf.getKernel(name, 'wasm');
  if (!config) return false;
  const stock = config.kernelFunc as unknown as WasmKernel;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    ...(config.setupFunc ? { setupFunc: config.setupFunc } : {}),
    ...(config.disposeFunc ? { disposeFunc: config.disposeFunc } : {}),
    kernelFunc: ((args: KernelArgs) => kernel(args, stock)) as unknown as tf.KernelFunc,
  });
  return true;
}
