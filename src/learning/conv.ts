/**
 * The filter gradient of a 2-D convolution, dK[a, b, ci, co] = Σ_{n,i,j} x̃[n, i·s + a, j·s + b, ci]
 * · g[n, i, j, co] (x̃ the padded input), computed as a convolution of the transposed input by the
 * transposed output gradient dilated by the stride. tfjs-backend-wasm registers no
 * Conv2DBackpropFilter kernel, so autodiff through conv2d fails there; this needs only Conv2D.
 */
import * as tf from '@tensorflow/tfjs';
import type { Padding } from '../sim/layer.js';

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
