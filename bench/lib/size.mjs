// Byte sizes on the benchmarks' command lines (`--size 4G`): k, M, G are powers of 1000, KiB, MiB, GiB of 1024, as
// the modeldeck commands read them. No imports, so `run.mjs` can check a size before anything is built.

const UNITS = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/**
 * Parses a byte size such as `4G`, `512M`, `1.5GiB` or `4000000000`; `undefined` when it is not one (or under 1 MB:
 * a download benchmark needs at least a part of it).
 * @param {string} text
 */
export function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return bytes >= 1e6 ? bytes : undefined;
}
