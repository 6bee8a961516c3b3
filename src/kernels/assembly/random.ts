/**
 * The counter-based uniforms of src/core/random.ts, four at a time in wasm SIMD, written straight
 * into a tensor in the backend's heap. Bit for bit the JavaScript generator: element i of stream
 * `key` is word(key, counter + i) = mix32(mix32((counter + i) ^ key) + key), mapped to
 * (word + 0.5) · 2⁻³² in float64 and rounded once to float32.
 */

// @ts-ignore: decorator
@inline function mix(v: v128): v128 {
  v = v128.xor(v, i32x4.shr_u(v, 16));
  v = i32x4.mul(v, i32x4.splat(0x21f0aaad));
  v = v128.xor(v, i32x4.shr_u(v, 15));
  v = i32x4.mul(v, i32x4.splat(0x735a2d97));
  return v128.xor(v, i32x4.shr_u(v, 15));
}

// @ts-ignore: decorator
@inline function mix32(x: u32): u32 {
  x ^= x >> 16;
  x *= 0x21f0aaad;
  x ^= x >> 15;
  x *= 0x735a2d97;
  return x ^ (x >> 15);
}

/** (w + 0.5) · 2⁻³² in float64, rounded once to float32, four lanes. */
// @ts-ignore: decorator
@inline function toUnit(w: v128): v128 {
  const half = f64x2.splat(0.5), scale = f64x2.splat(1.0 / 4294967296.0);
  const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.convert_low_i32x4_u(w), half), scale));
  const hi = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.convert_low_i32x4_u(v128.shuffle<i32>(w, w, 2, 3, 0, 1)), half), scale));
  return v128.shuffle<f32>(lo, hi, 0, 1, 4, 5);
}

/** out[i] = uniform i of stream `key` from counter `counter`, for i < count (float32). */
export function fillUniforms(out: usize, count: i32, key: u32, counter: u32): void {
  const k = i32x4.splat(key);
  let c = i32x4.add(i32x4.splat(counter), i32x4(0, 1, 2, 3));
  const four = i32x4.splat(4);
  let i = 0;
  const sixteen = i32x4.splat(16), eight = i32x4.splat(8), twelve = i32x4.splat(12);
  // four independent vectors an iteration: the mixes' multiply chains overlap
  for (; i + 16 <= count; i += 16) {
    const w0 = mix(i32x4.add(mix(v128.xor(c, k)), k));
    const w1 = mix(i32x4.add(mix(v128.xor(i32x4.add(c, four), k)), k));
    const w2 = mix(i32x4.add(mix(v128.xor(i32x4.add(c, eight), k)), k));
    const w3 = mix(i32x4.add(mix(v128.xor(i32x4.add(c, twelve), k)), k));
    v128.store(out + (<usize>i << 2), toUnit(w0));
    v128.store(out + (<usize>(i + 4) << 2), toUnit(w1));
    v128.store(out + (<usize>(i + 8) << 2), toUnit(w2));
    v128.store(out + (<usize>(i + 12) << 2), toUnit(w3));
    c = i32x4.add(c, sixteen);
  }
  for (; i + 4 <= count; i += 4) {
    v128.store(out + (<usize>i << 2), toUnit(mix(i32x4.add(mix(v128.xor(c, k)), k))));
    c = i32x4.add(c, four);
  }
  for (; i < count; i++) {
    const w = mix32(mix32((counter + <u32>i) ^ key) + key);
    store<f32>(out + (<usize>i << 2), <f32>((<f64>w + 0.5) * (1.0 / 4294967296.0)));
  }
}

/** out[i] = 1 − src[i] (antithetic partners), for i < count. */
export function mirror(out: usize, src: usize, count: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= count; i += 4) v128.store(out + (<usize>i << 2), f32x4.sub(one, v128.load(src + (<usize>i << 2))));
  for (; i < count; i++) store<f32>(out + (<usize>i << 2), 1 - load<f32>(src + (<usize>i << 2)));
}
