/**
 * Spikes as bits, 32 to an int32 word (bit j of word w is element 32·w + j): what crosses between
 * the threads of the layer pipeline (src/learning/pipeline.ts), 32× smaller than float32. On wasm
 * two kernels (`assembly/bits.ts`) pack straight from the tensor's heap data and unpack straight
 * into a new tensor's; other backends pack and unpack the values in JavaScript, to the same words.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

const PACK = 'SpikelrPackBits',
  UNPACK = 'SpikelrUnpackBits';
let installed = false;

/** Registers the kernels for the wasm backend (idempotent). */
export function installBitKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(PACK, ({ inputs, backend }: KernelArgs) => {
    const x = inputs['x']!;
    const n = x.shape.reduce((a, b) => a * b, 1);
    const words = backend.makeOutput([Math.ceil(n / 32)], 'int32');
    const ok = backend.makeOutput([1], 'int32');
    const flag = kernelsFor(backend).packBits(heapOffset(backend, x), n, heapOffset(backend, words));
    (backend.typedArrayFromHeap(ok) as Int32Array)[0] = flag;
    return [words, ok];
  });
  registerWasmKernel(UNPACK, ({ inputs, backend, attrs }: KernelArgs) => {
    const shape = attrs['shape'] as number[];
    const out = backend.makeOutput(shape, 'float32');
    kernelsFor(backend).unpackBits(
      heapOffset(backend, inputs['words']!),
      shape.reduce((a, b) => a * b, 1),
      heapOffset(backend, out),
    );
    return out;
  });
}

const onWasm = () => installed && tf.getBackend() === 'wasm';

/** The values of `x` packed as bits, or undefined when some value is neither 0 nor 1. */
export function packSpikes(x: tf.Tensor): Int32Array | undefined {
  if (onWasm()) {
    const [words, ok] = tf.tidy(() => tf.engine().runKernel(PACK, { x: tf.cast(x, 'float32') }) as tf.Tensor[]);
    const binary = ok!.dataSync()[0] === 1;
    const out = binary ? (words!.dataSync() as Int32Array) : undefined;
    tf.dispose([words!, ok!]);
    return out;
  }
  const values = x.dataSync();
  const words = new Int32Array(Math.ceil(values.length / 32));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === 1) words[i >> 5]! |= 1 << (i & 31);
    else if (v !== 0) return undefined;
  }
  return words;
}

/** The float32 tensor of `shape` whose elements the bits of `words` are. */
export function unpackSpikes(words: Int32Array, shape: readonly number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (words.length !== Math.ceil(n / 32)) throw new Error(`unpackSpikes: ${words.length} words cannot hold the ${n} elements of [${shape.join(', ')}]`);
  if (onWasm()) {
    const w = tf.tensor1d(words, 'int32');
    const out = tf.engine().runKernel(UNPACK, { words: w }, { shape: [...shape] }) as tf.Tensor;
    w.dispose();
    return out;
  }
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (words[i >> 5]! >>> (i & 31)) & 1;
  return tf.tensor(values, [...shape]);
}
