import * as tf from '@tensorflow/tfjs';

/** Adds `term` into the running sum `acc`, freeing both; the new sum is kept (outside any tidy). */
export function addInto(acc: tf.Tensor | undefined, term: tf.Tensor): tf.Tensor {
  if (!acc) return tf.keep(term);
  const sum = tf.keep(tf.add(acc, term));
  tf.dispose([acc, term]);
  return sum;
}
