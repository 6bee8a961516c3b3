/** Reductions over leading axes, which the stock wasm Sum runs only after transposing its input. */

/**
 * out[c] = Σ_r x[r · cols + c] for c < cols: rows added in order into `out`, 1024 columns at a
 * time so that the partial sums stay in cache while every row streams past.
 */
export function sumRows(x: usize, rows: i32, cols: i32, out: usize): void {
  weightedRows(x, rows, cols, 0, out, 0);
}

/** Zeros `bytes` bytes at `at` (memory.fill: a native memset, where filling a typed array from JavaScript is four times slower). */
export function zero(at: usize, bytes: usize): void {
  memory.fill(at, 0, bytes);
}

/**
 * out[c] = Σ_r w_r x[r · cols + c] for c < cols (w: `rows` floats at `weights`; 0: every w_r = 1,
 * exactly the plain sum), blocked as {@link sumRows}; `accumulate`: the rows are added to what out
 * holds (the sums of earlier rows: continuing them gives the bits of one call over all the rows).
 */
export function weightedRows(x: usize, rows: i32, cols: i32, weights: usize, out: usize, accumulate: i32): void {
  const BLOCK = 1024;
  for (let c0 = 0; c0 < cols; c0 += BLOCK) {
    const width = min(BLOCK, cols - c0);
    const o = out + (<usize>c0 << 2);
    if (!accumulate) memory.fill(o, 0, <usize>width << 2);
    for (let r = 0; r < rows; r++) {
      const row = x + ((<usize>r * <usize>cols + <usize>c0) << 2);
      const w: f32 = weights ? load<f32>(weights + (<usize>r << 2)) : 1;
      const vw = f32x4.splat(w);
      let c = 0;
      for (; c + 4 <= width; c += 4) {
        const at = o + (<usize>c << 2);
        v128.store(at, f32x4.add(v128.load(at), f32x4.mul(vw, v128.load(row + (<usize>c << 2)))));
      }
      for (; c < width; c++) {
        const at = o + (<usize>c << 2);
        store<f32>(at, load<f32>(at) + w * load<f32>(row + (<usize>c << 2)));
      }
    }
  }
}

/** out[r · cols + c] = w_r g[c]: the gradient of {@link weightedRows} with respect to x. */
export function spreadRows(g: usize, rows: i32, cols: i32, weights: usize, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = out + ((<usize>r * <usize>cols) << 2);
    const w = load<f32>(weights + (<usize>r << 2));
    const vw = f32x4.splat(w);
    let c = 0;
    for (; c + 4 <= cols; c += 4) v128.store(row + (<usize>c << 2), f32x4.mul(vw, v128.load(g + (<usize>c << 2))));
    for (; c < cols; c++) store<f32>(row + (<usize>c << 2), w * load<f32>(g + (<usize>c << 2)));
  }
}
