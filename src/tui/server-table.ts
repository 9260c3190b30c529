/**
 * The model table of a server pane, as plain lines: which columns it has and how wide each is, and how a model id is
 * shortened to fit. The rules keep what tells rows apart: `@main` is dropped when every row is at main; an id too
 * long for its column is cut in the middle of its org, then at the end of its revision, and its name last; a column no row fills
 * is not shown, and its room goes to the model column; the columns an operator can best do without go first when
 * the pane is narrow. Pure.
 */

import { formatBytes, percentDone } from '../client/format.js';
import { ELLIPSIS, truncateEnd, truncateMiddle } from '../common/text.js';
import { clipLine, seg, textBar, type Line, type Segment, type Tone } from './lines.js';
import type { ServerModelRow } from './server-state.js';
import { formatCountdown } from './session-figures.js';

/** An id's parts: `org/name@revision`, each possibly empty but the name. */
interface IdParts {
  readonly org: string;
  readonly name: string;
  /** With its `@`, or empty. */
  readonly revision: string;
}

function partsOf(label: string): IdParts {
  const at = label.indexOf('@');
  const repo = at < 0 ? label : label.slice(0, at);
  const revision = at < 0 ? '' : label.slice(at);
  const slash = repo.indexOf('/');
  return slash < 0
    ? { org: '', name: repo, revision }
    : { org: repo.slice(0, slash), name: repo.slice(slash + 1), revision };
}

const length = (text: string): number => [...text].length;

/** A commit hash as git shortens it (7 hex digits); any other revision as written. */
function shortRevision(revision: string): string {
  return /^@[0-9a-f]{40}$/.test(revision) ? revision.slice(0, 8) : revision;
}

/**
 * The ids as the table writes them: `@main` dropped when every id is at main (it tells no row apart), a commit hash
 * shortened to 7 digits.
 */
export function modelLabels(ids: readonly string[]): string[] {
  const allMain = ids.length > 0 && ids.every((id) => id.endsWith('@main'));
  return ids.map((id) => {
    if (allMain) return id.slice(0, -'@main'.length);
    const { org, name, revision } = partsOf(id);
    return `${org === '' ? '' : `${org}/`}${name}${shortRevision(revision)}`;
  });
}

/**
 * `label` in at most `width` cells: the middle of its org cut first (`onnx-…nity/Qwen2.5-0.5B-Instruct`), then the
 * end of its revision, and only when neither can give more, the end of its name.
 */
export function fitModel(label: string, width: number): string {
  if (length(label) <= width) return label;
  const { org, name, revision } = partsOf(label);
  const nameRoom = width - length(name) - length(revision);
  // The org keeps both ends and at least its ellipsis, then the slash.
  if (org !== '' && nameRoom >= 2) return `${truncateMiddle(org, nameRoom - 1)}/${name}${revision}`;
  const orgMark = org === '' ? '' : `${ELLIPSIS}/`;
  const revisionRoom = width - length(orgMark) - length(name);
  if (revision !== '' && revisionRoom >= 2) return `${orgMark}${name}${truncateEnd(revision, revisionRoom)}`;
  return truncateEnd(`${orgMark}${name}`, width);
}

/** The widest a model can be cut to before another column must go: its name and revision, and a mark for its org. */
function leastModelWidth(label: string): number {
  const { org, name, revision } = partsOf(label);
  return length(name) + length(revision) + (org === '' ? 0 : 2);
}

/** One optional column: its header and each row's cell. */
interface Column {
  readonly key: 'progress' | 'subs' | 'chats' | 'size' | 'unloads';
  readonly header: string;
  readonly cells: readonly string[];
}

/** The columns to give up first when the pane is narrow, in that order. */
const DROP_ORDER: readonly Column['key'][] = ['chats', 'unloads', 'subs', 'size', 'progress'];

/** Width of a progress bar (`[█████░░░] 45%`), drawn after the stage where the pane has room for it. */
const BAR_WIDTH = 16;

/** How far a load is, without a bar: `45%`, or what it has done when the server gives no total. */
function progressFigure(r: ServerModelRow): string {
  if (r.progress === null) return '';
  const percent = percentDone(r.progress);
  if (percent !== null) return `${percent}%`;
  return r.stage === 'download' ? formatBytes(r.progress.current) : String(r.progress.current);
}

/** A loading row's stage (padded to `stageWidth`, so the figures line up) and its figure: `download 45%`. */
function progressText(r: ServerModelRow, stageWidth: number): string {
  if (r.stage === null) return progressFigure(r);
  const figure = progressFigure(r);
  return figure === '' ? r.stage : `${r.stage.padEnd(stageWidth)} ${figure}`;
}

function unloadsText(r: ServerModelRow, now: number): string {
  if (r.state !== 'resident' || r.expiresAt === null) return '';
  const left = r.expiresAt - now;
  return left <= 0 ? 'due' : `in ${formatCountdown(left)}`;
}

/** The widest stage name among the rows. */
const stageWidthOf = (rows: readonly ServerModelRow[]): number =>
  Math.max(0, ...rows.map((r) => length(r.stage ?? '')));

function columnsOf(rows: readonly ServerModelRow[], now: number): Column[] {
  const stageWidth = stageWidthOf(rows);
  const all: Column[] = [
    { key: 'progress', header: 'PROGRESS', cells: rows.map((r) => progressText(r, stageWidth)) },
    {
      key: 'subs',
      header: 'SUBS',
      cells: rows.map((r) => (r.subscribers === null ? '' : String(r.subscribers))),
    },
    { key: 'chats', header: 'CHATS', cells: rows.map((r) => (r.chats > 0 ? String(r.chats) : '')) },
    {
      key: 'size',
      header: 'SIZE',
      cells: rows.map((r) => (r.sizeBytes === null ? '' : formatBytes(r.sizeBytes))),
    },
    { key: 'unloads', header: 'UNLOADS', cells: rows.map((r) => unloadsText(r, now)) },
  ];
  // A column no row fills gives its room away.
  return all.filter((c) => c.cells.some((cell) => cell !== ''));
}

const widthOf = (header: string, cells: readonly string[], gap = 2): number =>
  Math.max(length(header), ...cells.map(length)) + gap;

/** The columns kept in `width` cells, each column's width, and the model column's. */
interface TablePlan {
  readonly columns: readonly Column[];
  readonly widths: ReadonlyMap<Column['key'], number>;
  readonly modelWidth: number;
  /** Progress drawn as bars (there was room). */
  readonly bars: boolean;
  /** Spaces between columns. */
  readonly gap: number;
  /** Some model is cut to fit. */
  readonly cut: boolean;
  readonly stateWidth: number;
}

/**
 * The plan in `width` cells: columns two spaces apart, or one apart where that keeps a column, or a model's whole id,
 * that two would lose.
 */
function planTable(labels: readonly string[], columns: readonly Column[], rows: RowWidths, width: number): TablePlan {
  const wide = planWithGap(labels, columns, rows, width, 2);
  if (wide.columns.length === columns.length && !wide.cut) return wide;
  const narrow = planWithGap(labels, columns, rows, width, 1);
  const more = narrow.columns.length > wide.columns.length;
  return more || (narrow.columns.length === wide.columns.length && wide.cut && !narrow.cut) ? narrow : wide;
}

/** What the plan needs of the rows besides their columns: their states, and their widest stage name. */
interface RowWidths {
  readonly states: readonly string[];
  readonly stageWidth: number;
}

function planWithGap(
  labels: readonly string[],
  columns: readonly Column[],
  { states, stageWidth }: RowWidths,
  paneWidth: number,
  gap: number,
): TablePlan {
  // The last column needs no gap after it.
  const width = paneWidth + gap;
  const stateWidth = widthOf('STATE', states, gap);
  const natural = widthOf('MODEL', labels, gap);
  const least = Math.min(natural, Math.max(10, ...labels.map(leastModelWidth)) + gap);
  let kept = [...columns];
  const widths = new Map(kept.map((c) => [c.key, widthOf(c.header, c.cells, gap)] as const));
  const fixed = (): number => stateWidth + kept.reduce((n, c) => n + (widths.get(c.key) ?? 0), 0);
  for (const key of DROP_ORDER) {
    if (fixed() + least <= width) break;
    kept = kept.filter((c) => c.key !== key);
  }
  const progress = widths.get('progress');
  // Bars only where the model keeps its whole label beside them: the name is worth more than a bar.
  const barred = stageWidth + 1 + BAR_WIDTH + gap;
  const bars =
    progress !== undefined && kept.some((c) => c.key === 'progress') && width - fixed() - natural >= barred - progress;
  if (bars) widths.set('progress', barred);
  // A model column cut to fit takes whatever the others leave.
  const modelWidth = Math.max(4, Math.min(natural, width - fixed()));
  return { columns: kept, widths, modelWidth, bars, gap, stateWidth, cut: modelWidth < natural };
}

function stateTone(state: ServerModelRow['state']): Tone {
  switch (state) {
    case 'loading':
      return 'accent';
    case 'resident':
      return 'ok';
    case 'failed':
      return 'error';
    case 'on-disk':
    case 'unloaded':
    case 'unknown':
      return 'dim';
    default: {
      const never: never = state;
      throw new TypeError(`unknown residency ${JSON.stringify(never)}`);
    }
  }
}

function cellTone(key: Column['key'], row: ServerModelRow): Tone {
  return key === 'progress' ? stateTone(row.state) : key === 'unloads' ? 'warn' : 'dim';
}

/**
 * The table: a header and a line per row (with its unload reason or failure under it where `height` leaves room for
 * every such note), in `width` × `height` cells. `now` (ms since the epoch) counts the unload countdowns down.
 */
export function tableLines(
  rows: readonly ServerModelRow[],
  width: number,
  height: number,
  now: number,
  cursor?: TableCursor,
): Line[] {
  if (rows.length === 0) return [[seg(truncateEnd('no models known on this server yet', width), 'dim')]];
  if (cursor !== undefined) return markedLines(rows, width, height, now, cursor);
  const labels = modelLabels(rows.map((r) => r.model));
  const stageWidth = stageWidthOf(rows);
  const states = rows.map((r) => r.state);
  const plan = planTable(labels, columnsOf(rows, now), { states, stageWidth }, width);
  const { stateWidth } = plan;
  const pad = (text: string, w: number): string => truncateEnd(text, w - 1).padEnd(w);
  const header: string[] = [pad('MODEL', plan.modelWidth), pad('STATE', stateWidth)];
  for (const c of plan.columns) header.push(pad(c.header, plan.widths.get(c.key) ?? 0));
  const out: Line[] = [clipLine([seg(header.join('').trimEnd(), 'dim')], width)];
  const notes = rows.filter((r) => r.note !== null).length;
  // Notes only where every row and every note fit: a row is worth more than another row's note.
  const withNotes = 1 + rows.length + notes <= height;
  let shown = 0;
  for (const [i, r] of rows.entries()) {
    if (out.length >= height) break;
    const cells: Segment[] = [
      seg(pad(fitModel(labels[i] ?? r.model, plan.modelWidth - plan.gap), plan.modelWidth)),
      seg(pad(r.state, stateWidth), stateTone(r.state)),
    ];
    for (const c of plan.columns) {
      const w = plan.widths.get(c.key) ?? 0;
      const percent = r.progress === null ? null : percentDone(r.progress);
      const text =
        c.key === 'progress' && plan.bars && percent !== null
          ? `${(r.stage ?? '').padEnd(stageWidth)} ${textBar(percent, BAR_WIDTH)}`
          : (c.cells[i] ?? '');
      cells.push(seg(pad(text, w), cellTone(c.key, r)));
    }
    out.push(clipLine(trimLast(cells), width));
    shown++;
    if (withNotes && r.note !== null) {
      out.push(clipLine([seg(`  ${r.note}`, r.state === 'failed' ? 'error' : 'dim')], width));
    }
  }
  // Rows that did not fit are counted on the last line rather than vanishing without a word.
  if (shown < rows.length && out.length >= 3) {
    out[out.length - 1] = [seg(truncateEnd(`+${rows.length - shown + 1} more`, width), 'dim')];
  }
  return out;
}

/** The server view's cursor, as the table draws it. */
export interface TableCursor {
  /** The selected row's model (`ServerModelRow.model`), `null` when no row of this table is selected. */
  readonly selected: string | null;
}

/** Width of the cursor's column (`▶ ` on the selected row). */
const MARK_WIDTH = 2;

/**
 * The table with the cursor's column before it: `▶ ` and the model inverse on the selected row, two spaces on the
 * others (and on the header and notes), so the columns stay where they are as the cursor moves.
 */
function markedLines(
  rows: readonly ServerModelRow[],
  width: number,
  height: number,
  now: number,
  cursor: TableCursor,
): Line[] {
  const lines = tableLines(rows, Math.max(1, width - MARK_WIDTH), height, now);
  // The header, then each row followed by its note where notes are shown: a row's line starts with its label.
  let row = -1;
  return lines.map((line, i) => {
    const first = line[0]?.text ?? '';
    const isRow = i > 0 && !first.startsWith('  ') && !/^\+\d+ more$/.test(first);
    if (isRow) row++;
    const selected = isRow && rows[row]?.model === cursor.selected;
    if (!selected) return [seg(' '.repeat(MARK_WIDTH)), ...line];
    const [model, ...rest] = line;
    return [seg('▶ ', 'accent'), ...(model === undefined ? [] : [{ ...model, tone: 'selected' as const }]), ...rest];
  });
}

/** The row's segments without the padding at its end (a line ends where its text does). */
function trimLast(cells: Segment[]): Line {
  const out = [...cells];
  while (out.length > 0) {
    const last = out[out.length - 1];
    if (last === undefined) break;
    const text = last.text.trimEnd();
    if (text !== '') {
      out[out.length - 1] = { ...last, text };
      break;
    }
    out.pop();
  }
  return out;
}
