/**
 * The filter gradient of a 2-D convolution, dK[a, b, ci, co] = Σ_{n,i,j} x̃[n, i·s + a, j·s + b, ci]
 * · g[n, i, j, co] (x̃ the padded input), computed as a convolution of the transposed input by the
 * transposed output gradient dilated by the stride. tfjs-backend-wasm registers no
 * Conv2DBackpropFilter kernel, so autodiff through conv2d fails there; this needs only Conv2D.
 */
import * as tf from '@tensorflow/tfjs';
/** tfjs's 'same' (output ⌈in/s⌉, the smaller half of the padding before), 'valid', or p zeros on every side (PyTorch's). */
export type Padding = 'same' | 'valid' | number;

/** Zeros around the image: [top, bottom] and [left, right] of `padding` for input h×w, kernel k, stride s. */
export function paddingOf(h: number, w: number, kernelSize: number, stride: number, padding: Padding): [[number, number], [number, number]] {
  if (typeof padding === 'number')
    return [
      [padding, padding],
      [padding, padding],
    ];
  if (padding === 'valid')
    return [
      [0, 0],
      [0, 0],
    ];
  // tfjs 'same': total padding (out − 1)·s + k − in, the smaller half before
  const side = (size: number): [number, number] => {
    const total = Math.max((Math.ceil(size / stride) - 1) * stride + kernelSize - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  return [side(h), side(w)];
}

export function conv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, kernelSize: number, stride: number, padding: Padding): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const [rows, cols] = paddingOf(h, w, kernelSize, stride, padding);
    const padded = rows.some((p) => p > 0) || cols.some((p) => p > 0) ? tf.pad(x, [[0, 0], rows, cols, [0, 0]]) : x;
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
  if (typeof padding === 'number') {
    // explicit zeros, then a valid convolution (tf.pad's gradient is a slice)
    const valid = conv2dOp(stride, 'valid');
    return (x, kernel) =>
      tf.tidy(() =>
        valid(
          padding > 0
            ? tf.pad(x, [
                [0, 0],
                [padding, padding],
                [padding, padding],
                [0, 0],
              ])
            : x,
          kernel,
        ),
      );
  }
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
