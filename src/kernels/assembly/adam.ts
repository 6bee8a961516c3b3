/**
 * One Adam step over n parameters in one pass (src/kernels/adam-kernel.ts), with the operations and
 * their order of src/learning/optim.ts's separate tensor ops, so the results are theirs to the bit:
 *
 *     m' = m·β₁ + g·(1 − β₁)
 *     s' = s·β₂ + (g·g)·(1 − β₂)
 *     θ' = θ − (m'·(η/c₁)) / (√(s'/c₂) + ε)
 *
 * every constant a float32 as the ops receive it.
 */
export function adam(
  theta: usize, m: usize, s: usize, g: usize, n: i32,
  beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, rate: f32, c2: f32, epsilon: f32,
  outTheta: usize, outM: usize, outS: usize,
): void {
  const b1 = f32x4.splat(beta1), a1 = f32x4.splat(oneMinusBeta1), b2 = f32x4.splat(beta2), a2 = f32x4.splat(oneMinusBeta2);
  const r = f32x4.splat(rate), c = f32x4.splat(c2), e = f32x4.splat(epsilon);
  const vectors = n & ~3;
  for (let i = 0; i < vectors; i += 4) {
    const at = <usize>i << 2;
    const gi = v128.load(g + at);
    const mi = f32x4.add(f32x4.mul(v128.load(m + at), b1), f32x4.mul(gi, a1));
    const si = f32x4.add(f32x4.mul(v128.load(s + at), b2), f32x4.mul(f32x4.mul(gi, gi), a2));
    v128.store(outM + at, mi);
    v128.store(outS + at, si);
    v128.store(outTheta + at, f32x4.sub(v128.load(theta + at), f32x4.div(f32x4.mul(mi, r), f32x4.add(f32x4.sqrt(f32x4.div(si, c)), e))));
  }
  for (let i = vectors; i < n; i++) {
    const at = <usize>i << 2;
    const gi = load<f32>(g + at);
    const mi = load<f32>(m + at) * beta1 + gi * oneMinusBeta1;
    const si = load<f32>(s + at) * beta2 + (gi * gi) * oneMinusBeta2;
    store<f32>(outM + at, mi);
    store<f32>(outS + at, si);
    store<f32>(outTheta + at, load<f32>(theta + at) - (mi * rate) / (sqrt<f32>(si / c2) + epsilon));
  }
}
