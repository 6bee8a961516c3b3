/**
 * The filter gradient of a 2-D convolution, dK[a, b, ci, co] = Σ_{n,i,j} x̃[n, i·s + a, j·s + b, ci]
 * · g[n, i, j, co] (x̃ the padded input), computed as a convolution of the transposed input by the
 * transposed output gradient dilated by the stride. tfjs-backend-wasm registers no
 * Conv2DBackpropFilter kernel, so autodiff through conv2d fails there; this needs only Conv2D.
 */
import * as tf from '@tensorflow/tfjs';
export type Padding = 'same' | 'valid';

export function conv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, kernelSize: number, stride: number, padding: Padding): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const [, outH, outW] = dy.shape;
    let padded: tf.Tensor4D = x;
    if (padding === 'same') {
      // tfjs 'same': total padding (out − 1)·s + k − in, the smaller half before
      const ph = Math.max((outH - 1) * stride + kernelSize - h, 0);
      const pw = Math.max((outW - 1) * stride + kernelSize - w, 0);
      const top = Math.floor(ph / 2), left = Math.floor(pw / 2);
      padded = tf.pad(x, [[0, 0], [top, ph - top], [left, pw - left], [0, 0]]);
    }
    const input = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D; // [Ci, Hp, Wp, N]
    const filter = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, Co]
    const full = tf.conv2d(input, filter, 1, 'valid', 'NHWC', stride); // [Ci, ≥k, ≥k, Co]
    const cut = tf.slice(full, [0, 0, 0, 0], [-1, kernelSize, kernelSize, -1]);
    return tf.transpose(cut, [1, 2, 0, 3]) as tf.Tensor4D; // [k, k, Ci, Co]
  });
}

/**
 * conv2d whose gradient works on every backend: the input gradient by conv2dTranspose
 * (Conv2DBackpropInput, which wasm has), the filter gradient by {@link conv2dFilterGradient}.
 */
export function conv2dOp(stride: number, padding: Padding): (x: tf.Tensor4D, kernel: tf.Tensor4D) => tf.Tensor4D {
  const f = (x: tf.Tensor4D, kernel: tf.Tensor4D, save: tf.GradSaveFunc) => {
    save([x, kernel]);
    return {
      value: tf.conv2d(x, kernel, stride, padding),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [input, k] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        return [tf.conv2dTranspose(g, k, input.shape, stride, padding), conv2dFilterGradient(input, g, k.shape[0], stride, padding)];
      },
    };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor4D, kernel: tf.Tensor4D) => tf.Tensor4D;
}
