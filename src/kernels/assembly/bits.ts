/**
 * Spikes as bits: a float32 sequence of 0s and 1s packed 32 to a word (bit j of word w is
 * element 32·w + j), and back. What crosses between the threads of the layer pipeline
 * (src/learning/pipeline.ts), 32× smaller than the floats.
 */

/**
 * Packs x[0 … n) into ⌈n/32⌉ words at `out`; returns 1 when every element is 0 or 1 (the words
 * are then the spikes), 0 otherwise (the words are meaningless).
 */
export function packBits(x: usize, n: i32, out: usize): i32 {
  const one = f32x4.splat(1.0), zero = f32x4.splat(0.0);
  let valid = i32x4.splat(-1);
  const words = n >> 5;
  for (let w = 0; w < words; w++) {
    const base = x + (<usize>w << 7);
    let word: u32 = 0;
    for (let g = 0; g < 8; g++) {
      const v = v128.load(base + (<usize>g << 4));
      const isOne = f32x4.eq(v, one);
      valid = v128.and(valid, v128.or(isOne, f32x4.eq(v, zero)));
      word |= (<u32>i32x4.bitmask(isOne)) << (<u32>g << 2);
    }
    store<u32>(out + (<usize>w << 2), word);
  }
  let ok: i32 = i32x4.all_true(valid) ? 1 : 0;
  const rest = n - (words << 5);
  if (rest > 0) {
    let word: u32 = 0;
    for (let j = 0; j < rest; j++) {
      const v = load<f32>(x + ((<usize>(words << 5) + <usize>j) << 2));
      if (v == 1.0) word |= (<u32>1) << <u32>j;
      else if (v != 0.0) ok = 0;
    }
    store<u32>(out + (<usize>words << 2), word);
  }
  return ok;
}

/** Writes the n elements of the words at `bits` as float32 0s and 1s at `out`. */
export function unpackBits(bits: usize, n: i32, out: usize): void {
  const lanes = i32x4(1, 2, 4, 8), none = i32x4.splat(0), one = i32x4.splat(0x3f800000);
  const words = n >> 5;
  for (let w = 0; w < words; w++) {
    const word = load<u32>(bits + (<usize>w << 2));
    const base = out + (<usize>w << 7);
    for (let g = 0; g < 8; g++) {
      const nibble = i32x4.splat(<i32>((word >> (<u32>g << 2)) & 15));
      v128.store(base + (<usize>g << 4), v128.and(v128.not(i32x4.eq(v128.and(nibble, lanes), none)), one));
    }
  }
  const rest = n - (words << 5);
  if (rest > 0) {
    const word = load<u32>(bits + (<usize>words << 2));
    for (let j = 0; j < rest; j++) store<f32>(out + ((<usize>(words << 5) + <usize>j) << 2), <f32>((word >> <u32>j) & 1));
  }
}
