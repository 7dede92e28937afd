/** Small statistics for the benchmark: medians of runs and latency percentiles. */

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  const ok = values.filter((v) => Number.isFinite(v));
  if (ok.length === 0) return NaN;
  const s = [...ok].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A figure measured over several runs: the median is the headline, the runs show the noise. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, as a fraction; 0 for one run. */
  spread: number;
  runs: number[];
}

export function figure(runs: number[]): Figure {
  const ok = runs.filter((v) => Number.isFinite(v));
  const m = median(ok);
  const min = ok.length ? Math.min(...ok) : NaN;
  const max = ok.length ? Math.max(...ok) : NaN;
  return { median: m, min, max, spread: ok.length > 1 ? (max - min) / m : 0, runs };
}

export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
