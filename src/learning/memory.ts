/**
 * Peak tensor memory of a computation, measured synchronously. tf.profile reports a peak too, but
 * on the wasm backend it times every kernel asynchronously, so a kernel that fails there (the heap
 * exhausted) fails as an unhandled rejection, and the caller sees only a TypeError further on.
 */
import * as tf from '@tensorflow/tfjs';

interface EngineState {
  state: { numBytes: number };
  disposeTensor(t: tf.Tensor): void;
}

/**
 * Runs `f` and returns its result with the most bytes of tensors live at once while it ran
 * (everything live counts, the caller's tensors included, as tf.profile's peakBytes). Live bytes
 * fall only when a tensor is disposed, so the peak is the largest count seen just before a dispose
 * or at the end.
 */
export function withPeakBytes<T>(f: () => T): { result: T; peakBytes: number } {
  const engine = tf.engine() as unknown as EngineState;
  const dispose = engine.disposeTensor;
  let peak = engine.state.numBytes;
  engine.disposeTensor = function (this: EngineState, t: tf.Tensor) {
    peak = Math.max(peak, this.state.numBytes);
    dispose.call(this, t);
  };
  try {
    const result = f();
    return { result, peakBytes: Math.max(peak, engine.state.numBytes) };
  } finally {
    engine.disposeTensor = dispose;
  }
}
