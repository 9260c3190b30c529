/**
 * The `Range` request header, single byte ranges only (RFC 9110 §14). Pure.
 */

/**
 * What a `Range` header asks of a representation of a given size.
 *
 * - `full`: serve the whole thing with 200 (no header, a unit other than bytes, several ranges, or a malformed
 *   value: RFC 9110 lets a server ignore those).
 * - `partial`: serve bytes `start`..`end` inclusive with 206.
 * - `unsatisfiable`: answer 416, with a `Content-Range` that gives only the size.
 */
export type RangeDecision =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/**
 * Decide how to answer `header` for a body of `size` bytes. Supports `bytes=a-b`, `bytes=a-` and `bytes=-n`; an end
 * past the last byte is clamped, as the RFC says.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const match = SINGLE_RANGE.exec(header);
  if (match === null) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  // `a-b` with b < a is malformed, so ignored; only then does an out-of-bounds start make it unsatisfiable.
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}
