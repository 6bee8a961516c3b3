/**
 * Statistics for unbiasedness tests: a mean of seeded draws against an exact value, with a
 * tolerance from the draws' own variance.
 */

/**
 * Unbiasedness of draws (each a vector of p entries) against `exact`. The entries of one estimate
 * are correlated (every weight of a neuron multiplies the same score), so Σ z² over p entries is
 * not χ²_p: by Satterthwaite it is about c·χ²_ν with c = tr(R²)/p and ν = p²/tr(R²), R the entries'
 * correlation matrix over the draws. The threshold is that law's 1 − 1e-4 quantile
 * (Wilson–Hilferty). Also the largest |z| (each entry a t with draws − 1 degrees of freedom) and
 * how many entries the test resolves (|exact| > 5 se).
 */
export function unbiasedDraws(
  samples: readonly number[][],
  exact: readonly number[],
): { maxZ: number; chi2: number; threshold: number; informative: number; entries: number } {
  const draws = samples.length;
  const live = exact.map((_, i) => i).filter((i) => samples.some((r) => r[i] !== samples[0]![i])); // entries that vary
  const g = live.map((i) => exact[i]!);
  const rows = samples.map((r) => live.map((i) => r[i]!));
  const p = g.length;
  const mean = g.map((_, i) => rows.reduce((s, r) => s + r[i]!, 0) / draws);
  const centred = rows.map((r) => r.map((v, i) => v - mean[i]!));
  const sd = g.map((_, i) => Math.sqrt(centred.reduce((s, r) => s + r[i]! ** 2, 0) / (draws - 1)));
  const z = g.map((gi, i) => (mean[i]! - gi) / (sd[i]! / Math.sqrt(draws)));
  let trR2 = 0;
  for (let i = 0; i < p; i++)
    for (let j = 0; j < p; j++) {
      const r = centred.reduce((s, row) => s + row[i]! * row[j]!, 0) / ((draws - 1) * sd[i]! * sd[j]!);
      trR2 += r * r;
    }
  const scale = trR2 / p,
    nu = (p * p) / trR2;
  const q = nu * (1 - 2 / (9 * nu) + 3.719 * Math.sqrt(2 / (9 * nu))) ** 3;
  return {
    maxZ: Math.max(...z.map(Math.abs)),
    chi2: z.reduce((s, v) => s + v * v, 0),
    threshold: scale * q,
    informative: g.filter((gi, i) => Math.abs(gi) > (5 * sd[i]!) / Math.sqrt(draws)).length,
    entries: p,
  };
}
