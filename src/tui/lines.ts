/** Screen text as plain data: runs of text in a tone, lines of them, and the pieces every pane builds them from. */

import { ELLIPSIS } from '../common/text.js';

/** How a piece of text is shown. */
/** `match`: a filter match (underlined); `selected`: the log's cursor line (inverse). */
export type Tone = 'normal' | 'dim' | 'ok' | 'warn' | 'error' | 'accent' | 'match' | 'selected';

/** A run of text in one tone. */
export interface Segment {
  readonly text: string;
  readonly tone: Tone;
}

/** One screen line, at most as wide as its box's inside. */
export type Line = readonly Segment[];

/** A segment. */
export const seg = (text: string, tone: Tone = 'normal'): Segment => ({ text, tone });

/** A text bar `[█████░░░░░]` followed by ` 45%`, `width` cells in all. */
export function textBar(percent: number, width: number): string {
  const label = ` ${String(percent).padStart(3)}%`;
  const inner = Math.max(1, width - 2 - label.length);
  const filled = Math.round((percent / 100) * inner);
  return `[${'█'.repeat(filled)}${'░'.repeat(inner - filled)}]${label}`;
}

/** Cuts a line of segments to `width` cells, marking the cut. */
export function clipLine(line: Line, width: number): Line {
  const total = line.reduce((n, s) => n + [...s.text].length, 0);
  if (total <= width) return line;
  const out: Segment[] = [];
  let left = width - 1;
  for (const s of line) {
    const chars = [...s.text];
    if (chars.length <= left) {
      out.push(s);
      left -= chars.length;
      continue;
    }
    out.push(seg(chars.slice(0, left).join('') + ELLIPSIS, s.tone));
    break;
  }
  return out;
}
