/**
 * Shortening text for people, marked with an ellipsis: the one helper the client (error bodies) and the dashboard
 * (cells, labels, log lines) share. Widths count code points, so a cut never splits a surrogate pair. `protocol`
 * keeps its own quoting of bad input in its messages: it imports nothing but itself.
 */

/** The mark left where text was cut. */
export const ELLIPSIS = '…';

/** Shortens `text` to at most `width` code points by cutting its end, the ellipsis counted in the width. */
export function truncateEnd(text: string, width: number): string {
  if (text.length <= width) return text;
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return chars.slice(0, width - 1).join('') + ELLIPSIS;
}

/** Shortens `text` to at most `width` code points by cutting its middle (URLs and ids keep both ends). */
export function truncateMiddle(text: string, width: number): string {
  // Code points are at most as many as UTF-16 units: a text that short fits (most do), without an array of it.
  if (text.length <= width) return text;
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  if (width === 1) return ELLIPSIS;
  const head = Math.ceil((width - 1) / 2);
  const tail = width - 1 - head;
  return chars.slice(0, head).join('') + ELLIPSIS + (tail > 0 ? chars.slice(chars.length - tail).join('') : '');
}
