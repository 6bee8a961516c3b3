/** Unit credit taken step by step (src/learning/unit-credit.ts `creditSteps`) in one pass a step. */

/**
 * For the K copies' rows of `cols` floats each (copy-major), copy k in group groups[k] < G: r = sum +
 * a·s (`sum` 0: none yet) into `outSum`, and out[k, c] = factor[k, c] · (r[k, c] − r̄_{−g(k)}[c]) ·
 * seed[k, c] (`seed` 0: without it), r̄_{−g} the mean of r over the copies outside group g —
 * (Σ_all − Σ_g) · inv[g] with inv[g] = 1/(K − |g|). That is the running sum of a unit's output from
 * this step on, centred on the other groups' mean, times its credit (and the step's scores).
 * 256 columns at a time, so that a block's K rows of r and the G + 1 group sums (`scratch`,
 * (G + 1) · 256 floats) stay in cache.
 */
export function creditStep(
  sum: usize,
  s: usize,
  a: f32,
  factor: usize,
  groups: usize,
  inv: usize,
  G: i32,
  scratch: usize,
  seed: usize,
  K: i32,
  cols: i32,
  outSum: usize,
  out: usize,
): void {
  const BLOCK = 256;
  const va = f32x4.splat(a);
  for (let c0 = 0; c0 < cols; c0 += BLOCK) {
    const width = min(BLOCK, cols - c0);
    const wb = <usize>width << 2;
    const total = scratch + <usize>G * wb;
    memory.fill(scratch, 0, <usize>(G + 1) * wb);
    for (let k = 0; k < K; k++) {
      const row = (<usize>k * <usize>cols + <usize>c0) << 2;
      const group = scratch + <usize>load<i32>(groups + (<usize>k << 2)) * wb;
      let c = 0;
      for (; c + 4 <= width; c += 4) {
        const at = row + (<usize>c << 2),
          j = <usize>c << 2;
        const term = f32x4.mul(v128.load(s + at), va);
        const r = sum ? f32x4.add(v128.load(sum + at), term) : term;
        v128.store(outSum + at, r);
        v128.store(group + j, f32x4.add(v128.load(group + j), r));
        v128.store(total + j, f32x4.add(v128.load(total + j), r));
      }
      for (; c < width; c++) {
        const at = row + (<usize>c << 2),
          j = <usize>c << 2;
        const term: f32 = load<f32>(s + at) * a;
        const r: f32 = sum ? load<f32>(sum + at) + term : term;
        store<f32>(outSum + at, r);
        store<f32>(group + j, load<f32>(group + j) + r);
        store<f32>(total + j, load<f32>(total + j) + r);
      }
    }
    for (let k = 0; k < K; k++) {
      const row = (<usize>k * <usize>cols + <usize>c0) << 2;
      const g = load<i32>(groups + (<usize>k << 2));
      const group = scratch + <usize>g * wb;
      const w: f32 = load<f32>(inv + (<usize>g << 2));
      const vw = f32x4.splat(w);
      let c = 0;
      for (; c + 4 <= width; c += 4) {
        const at = row + (<usize>c << 2),
          j = <usize>c << 2;
        const mean = f32x4.mul(f32x4.sub(v128.load(total + j), v128.load(group + j)), vw);
        let v = f32x4.mul(v128.load(factor + at), f32x4.sub(v128.load(outSum + at), mean));
        if (seed) v = f32x4.mul(v, v128.load(seed + at));
        v128.store(out + at, v);
      }
      for (; c < width; c++) {
        const at = row + (<usize>c << 2),
          j = <usize>c << 2;
        const mean: f32 = (load<f32>(total + j) - load<f32>(group + j)) * w;
        let v: f32 = load<f32>(factor + at) * (load<f32>(outSum + at) - mean);
        if (seed) v *= load<f32>(seed + at);
        store<f32>(out + at, v);
      }
    }
  }
}
