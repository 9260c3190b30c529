/**
 * Sets of byte ranges of a file, pure: what a partial download holds, kept as sorted, disjoint, non-adjacent spans
 * (`[start, end)`, end excluded). The journal (`blob-journal.ts`) stores them; the downloader asks for the holes to
 * fetch and the contiguous prefix the checksum can take.
 */

/** Bytes `[start, end)` of a file, `start < end`. */
export type ByteSpan = readonly [start: number, end: number];

/** `spans` with `[start, end)` added: still sorted, disjoint and merged with its neighbours. */
export function addSpan(spans: readonly ByteSpan[], start: number, end: number): ByteSpan[] {
  if (!(end > start)) return [...spans];
  const result: ByteSpan[] = [];
  let merged: [number, number] = [start, end];
  let placed = false;
  for (const span of spans) {
    if (span[1] < merged[0]) result.push(span);
    else if (span[0] > merged[1]) {
      if (!placed) result.push(merged);
      placed = true;
      result.push(span);
    } else merged = [Math.min(span[0], merged[0]), Math.max(span[1], merged[1])];
  }
  if (!placed) result.push(merged);
  return result;
}

/** Bytes the spans cover. */
export function spanBytes(spans: readonly ByteSpan[]): number {
  return spans.reduce((sum, [start, end]) => sum + end - start, 0);
}

/** Where the bytes held from offset 0 on end: 0 when the first byte is missing. */
export function prefixEnd(spans: readonly ByteSpan[]): number {
  const first = spans[0];
  return first !== undefined && first[0] === 0 ? first[1] : 0;
}

/** The ranges of `[0, size)` the spans do not cover, in order. */
export function holes(spans: readonly ByteSpan[], size: number): ByteSpan[] {
  const result: ByteSpan[] = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (start > at) result.push([at, Math.min(start, size)]);
    at = Math.max(at, end);
    if (at >= size) break;
  }
  if (at < size) result.push([at, size]);
  return result.filter(([start, end]) => end > start);
}

/** The end of the last span: how long a file holding them must be at least. */
export function spansEnd(spans: readonly ByteSpan[]): number {
  return spans.at(-1)?.[1] ?? 0;
}

/**
 * `value` as spans within `[0, size]`, or `undefined` when it is not a sorted list of disjoint `[start, end]` pairs of
 * whole numbers (a journal that says something else is not believed).
 */
export function parseSpans(value: unknown, size: number): ByteSpan[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const spans: ByteSpan[] = [];
  let last = -1;
  for (const item of value as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [start, end] = item as unknown[];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return undefined;
    const span: ByteSpan = [start as number, end as number];
    if (span[0] <= last || span[0] >= span[1] || span[1] > size) return undefined;
    last = span[1];
    spans.push(span);
  }
  return spans;
}
