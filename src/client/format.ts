/** Figures for people: byte counts, durations and whole percentages, as the dashboard and `modeldeck load` print them. */

/** A byte count for people: `950 B`, `12.3 kB`, `4.00 MB`, `1.20 GB` (SI units, as download sizes are quoted). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

/** A duration in milliseconds for people: `0.4s`, `12s`, `3m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Whole percent done, floored so that 100 means complete; `null` when the total is unknown. */
export function percentDone(progress: { current: number; total: number | null }): number | null {
  if (progress.total === null) return null;
  if (progress.total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((progress.current / progress.total) * 100)));
}
