/**
 * Fits a command's `--help` to the terminal. The texts are written once, wrapped by hand at about 110 columns; an
 * operator's terminal is often 80 wide, where the terminal's own wrap breaks words and the option table's column.
 * Only a block with a line wider than the terminal is rewrapped: prose is refilled, an option's description keeps
 * its column with a hanging indent, and examples and code (JSON, commands) are left as written.
 */

/** The width help is fitted to: the terminal's, or 80 when the output is not a terminal (a pipe, a file). */
export function helpWidth(stream: object): number {
  const { isTTY, columns } = stream as { readonly isTTY?: boolean; readonly columns?: number };
  return isTTY === true && columns !== undefined && columns > 0 ? columns : 80;
}

/** `usage` fitted to `stream`'s width, with its final newline: what `--help` writes. */
export function helpFor(usage: string, stream: object): string {
  return `${fitHelp(usage, helpWidth(stream))}\n`;
}

/** A description narrower than this is not worth a hanging indent: it goes on the lines below its option. */
const MIN_DESCRIPTION = 28;

/** `  --flag VALUE   description`: two or more spaces before the description, whose column is kept. */
const OPTION = /^( {2,})(\S+(?: \S+)*?)( {2,})(\S.*)$/;

/** `text` with every block that is wider than `width` rewrapped to fit (blocks that fit are untouched). */
export function fitHelp(text: string, width: number): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const block = blockAt(lines, i);
    const taken = lines.slice(i, i + block.length);
    out.push(...(taken.some((l) => l.length > width) ? block.wrap(taken, width) : taken));
    i += block.length;
  }
  return out.join('\n');
}

interface Block {
  readonly length: number;
  wrap(lines: readonly string[], width: number): string[];
}

const verbatim: Block['wrap'] = (lines) => [...lines];

/** The block that starts at `lines[i]`: its extent, and how it rewraps. */
function blockAt(lines: readonly string[], i: number): Block {
  const line = lines[i] ?? '';
  if (line.trim() === '') return { length: 1, wrap: verbatim };
  if (line.startsWith('Usage:')) {
    const length = extent(lines, i, (next) => next.trim() !== '' && /^ +modeldeck/.test(next));
    return { length, wrap: (taken, width) => taken.flatMap((l) => fill(words(l), width, leading(l), usageIndent(l))) };
  }
  const option = OPTION.exec(line);
  if (option && !isCode(line)) {
    const column = (option[1] ?? '').length + (option[2] ?? '').length + (option[3] ?? '').length;
    const length = extent(lines, i, (next) => leading(next) === column && !OPTION.test(next.slice(column)));
    return { length, wrap: (taken, width) => wrapOption(taken, column, width) };
  }
  if (isCode(line)) return { length: 1, wrap: verbatim };
  const indent = leading(line);
  const length = extent(lines, i, (next) => leading(next) === indent && !isCode(next) && !OPTION.test(next));
  return { length, wrap: (taken, width) => fill(taken.flatMap(words), width, indent, indent) };
}

/** How many lines from `i` the block runs: the first, then every next line that `continues`. */
function extent(lines: readonly string[], i: number, continues: (next: string) => boolean): number {
  let n = 1;
  const more = (next: string): boolean => next.trim() !== '' && continues(next);
  while (i + n < lines.length && more(lines[i + n] ?? '')) n += 1;
  return n;
}

function wrapOption(lines: readonly string[], column: number, width: number): string[] {
  const head = (lines[0] ?? '').slice(0, column);
  const description = lines.flatMap((l, n) => words(n === 0 ? l.slice(column) : l));
  if (width - column < MIN_DESCRIPTION) {
    const indent = Math.min(leading(head) + 4, column);
    return [...fill(words(head), width, leading(head), leading(head)), ...fill(description, width, indent, indent)];
  }
  const filled = fill(description, width, column, column);
  return [head + (filled[0] ?? '').slice(column), ...filled.slice(1)];
}

/** Words laid into lines of at most `width` (a longer word gets a line of its own). */
function fill(text: readonly string[], width: number, first: number, rest: number): string[] {
  const out: string[] = [];
  let current = ' '.repeat(first);
  let empty = true;
  for (const word of text) {
    if (!empty && current.length + 1 + word.length > width) {
      out.push(current);
      current = ' '.repeat(rest);
      empty = true;
    }
    current += empty ? word : ` ${word}`;
    empty = false;
  }
  if (!empty || out.length === 0) out.push(current);
  return out;
}

function words(line: string): string[] {
  return line.trim().split(/\s+/).filter(Boolean);
}

function leading(line: string): number {
  return line.length - line.trimStart().length;
}

/** Where a usage line's arguments start: after `Usage: modeldeck` and the command's name. */
function usageIndent(line: string): number {
  const m = /^(Usage: +| +)modeldeck(?: [a-z][a-z-]*)? /.exec(line);
  return m ? m[0].length : 7;
}

/** JSON, shell lines and the like: laid out by hand, never refilled. */
function isCode(line: string): boolean {
  const body = line.trimStart();
  return /^[{[$]/.test(body) || /^(modeldeck|npm|node|curl|export) /.test(body) || body.includes('  #');
}
