/**
 * State to screen, as plain data: the grid of session cells (`session-pane.ts`) and server panes (`server-view.ts`),
 * placed by `screen-layout.ts`, the log pane's visible lines, the status bar and the help overlay.
 * Pure: `render.ts` only copies this onto blessed widgets, and tests read it without a terminal.
 */

import { ELLIPSIS, truncateEnd, truncateMiddle } from '../common/text.js';
import type { JournalEntry } from '../client/wire-journal.js';
import { buildWireLogView, clockTime, inspectEntry, shownText, type WireLogView } from './wire-log-view.js';
import { countAfter, selectWindow, type EventLog, type LogEntry, type LogFilter } from './event-log.js';
import { editedLine } from './edited-line.js';
import { CONFIRM_PROMPTS, KEY_HELP, KEY_PROMPTS, keyHints, MODEL_PROMPTS, type Prompt, type UiState } from './keys.js';
import { confirmDialog, type DialogView } from './confirm-view.js';
import { lineAt } from './line-edit.js';
import { clipLine, seg, type Line, type Segment, type Tone } from './lines.js';
import { completionCandidates } from './model-completion.js';
import type { KeyWorld } from './dashboard-model.js';
import type { ModelChoices } from './model-list.js';
import { tagColumn, type TagColumn } from './log-tags.js';
import type { ReplayPosition } from './replay-player.js';
import {
  gridLayout,
  screenLayout,
  serverViewLayout,
  serverViewRects,
  serverViewRows,
  shownZoom,
  type Rect,
  type ScreenSize,
} from './screen-layout.js';
import { serverDownLine, serverPaneContent, serverPaneNeed, type ChartSpec, type PaneCursor } from './server-view.js';
import { liveFilter, rowHint, selectedIndex, serverRowRefs, type ServerRowRef } from './server-cursor.js';
import type { ServerState } from './server-state.js';
import { sameServer, sessionCells } from './session-pane.js';
import type { SessionState } from './session-state.js';
import { wrap } from './text-wrap.js';

export { type Line, type Tone } from './lines.js';

/** One session's box. */
export interface CellView {
  readonly id: string;
  readonly rect: Rect;
  /** The border label. */
  readonly title: string;
  readonly focused: boolean;
  /** Lines inside the border, at most `rect.height - 2`. */
  readonly lines: readonly Line[];
  /** A session's: how far (lines) its transcript can scroll back in this cell, where PgUp stops. */
  readonly scrollLimit?: number;
  /** One line without a border (a server that cannot be reached): `title` is empty, `lines` its one line. */
  readonly bare?: boolean;
}

/** The event log's box. */
export interface LogPaneView {
  readonly rect: Rect;
  readonly title: string;
  readonly focused: boolean;
  readonly lines: readonly Line[];
}

/**
 * A throughput chart (a contrib sparkline): per-second values as whole percentages of the series' peak (the
 * widget's integer arithmetic overflows on raw byte rates), with a title that carries the figures.
 */
export interface ChartView {
  /** Stable across frames, so the renderer keeps the widget. */
  readonly id: string;
  /** Where, on the screen (3 rows per series: a blank, the title, the line). */
  readonly rect: Rect;
  readonly series: readonly { readonly title: string; readonly percents: readonly number[] }[];
}

/** A contrib gauge, only where a pane has the rows for one (its label shows from 6 rows). */
export interface GaugeView {
  readonly id: string;
  readonly rect: Rect;
  /** Whole percent, 0–100 (fed as a percentage: contrib reads values under 1.001 as fractions). */
  readonly percent: number;
  readonly label: string;
}

/** The whole screen. */
export interface DashboardView {
  readonly cells: readonly CellView[];
  /** Throughput charts over the cells (space for them is left blank in the cells' lines). */
  readonly charts: readonly ChartView[];
  readonly gauges: readonly GaugeView[];
  readonly log: LogPaneView;
  /** The bottom line. */
  readonly status: { readonly rect: Rect; readonly line: Line };
  /** The help overlay, when shown. */
  readonly help: { readonly rect: Rect; readonly lines: readonly Line[] } | null;
  /** The confirm dialog (close, cancel, unload, quit), when one is open. */
  readonly dialog: DialogView | null;
}

/** A message for the status bar. */
export interface Notice {
  readonly text: string;
  readonly tone: Tone;
}

/** What {@link toViewModel} reads. */
export interface ViewInput {
  readonly sessions: readonly SessionState[];
  readonly ui: UiState;
  readonly log: EventLog;
  readonly size: ScreenSize;
  /** Milliseconds since the epoch. */
  readonly now: number;
  readonly notice: Notice | null;
  /** Offered by the add-session prompt. */
  readonly defaultServer: string;
  /** The distinct servers among the sessions, for the server view. */
  readonly servers?: readonly ServerState[];
  /** The wire journal's entries, oldest first, for the log's debug views and the sessions' fault counts. */
  readonly journal?: readonly JournalEntry[];
  /** In a model prompt: the ids its server lists, and how asking for them went. */
  readonly modelChoices?: ModelChoices | undefined;
  /** A replay's position, for its banner (absent in a live dashboard). */
  readonly replay?: ReplayPosition | undefined;
  /** The server view's rows as its cursor walks them (`server-row-actions.ts`); absent: worked out here. */
  readonly serverRows?: readonly ServerRowRef[] | undefined;
}

/** The screen for one state. */
export function toViewModel(input: ViewInput): DashboardView {
  const { ui } = input;
  const zoom = shownZoom(ui.zoom, input.sessions.length);
  const layout = screenLayout(input.size, zoom);
  const focus = Math.min(Math.max(ui.focus, 0), Math.max(0, input.sessions.length - 1));
  const sessions = zoom === 'session' ? input.sessions.slice(focus, focus + 1) : zoom === 'log' ? [] : input.sessions;
  const charts: ChartView[] = [];
  const gauges: GaugeView[] = [];
  const rest = {
    log: logPane(input, layout.log),
    status: { rect: layout.status, line: statusLine(input, layout.status.width, input.sessions[focus]) },
    help: ui.help ? helpOverlay(input.size, ui.helpPage) : null,
    dialog:
      ui.prompt !== null && CONFIRM_PROMPTS.has(ui.prompt.kind)
        ? confirmDialog(ui.prompt, {
            sessions: input.sessions,
            servers: input.servers ?? [],
            logEntries: input.log.size(),
            size: input.size,
          })
        : null,
  };
  const servers = input.servers ?? [];
  let sessionArea = layout.sessions;
  let serverCells: CellView[] = [];
  if (zoom === 'log') return { cells: [], charts, gauges, ...rest };
  if (ui.serverView && servers.length > 0 && zoom === null) {
    const cursor = paneCursors(input);
    const needs = serverNeeds(servers, sessions, input.now, cursor);
    const split = serverViewLayout(layout.sessions, sessions.length, serverViewRows(needs, layout.sessions.width));
    sessionArea = split.sessions;
    serverCells = serverPanes(servers, sessions, split.servers, input.now, { charts, gauges, needs, cursor });
    if (sessions.length === 0) return { cells: serverCells, charts, gauges, ...rest };
  }
  const rects = gridLayout(Math.max(1, sessions.length), sessionArea);
  const cells: CellView[] =
    sessions.length === 0
      ? [
          {
            id: '',
            rect: rects[0] ?? sessionArea,
            title: ' no sessions ',
            focused: !ui.logFocused,
            // While the embedded stack starts, its progress is the news; otherwise say how to begin.
            lines: wrap(
              input.notice?.text ?? 'No sessions. Press Ctrl-N to add one (server URL, then model), ? for help.',
              Math.max(1, (rects[0]?.width ?? 10) - 2),
            ).map((t) => [seg(t, input.notice?.tone ?? 'dim')]),
          },
        ]
      : sessionCells(sessions, sessionArea, {
          ui,
          now: input.now,
          zoom,
          focus: zoom === 'session' ? 0 : focus,
          servers,
          journal: input.journal ?? [],
          onChart: (id, inner, chart) => charts.push(chartAt(id, inner, chart)),
        });
  // A cell with no row inside its border (a hundred sessions on one screen) cannot show what is typed into it: the
  // status bar does, so a key typed is always on screen.
  const focusedCell = zoom === 'session' ? cells[0] : cells[focus];
  const hiddenInput = ui.composing && !ui.logFocused && focusedCell !== undefined && focusedCell.rect.height <= 2;
  const status = hiddenInput
    ? { rect: layout.status, line: statusLine(input, layout.status.width, input.sessions[focus], true) }
    : rest.status;
  return { cells: [...cells, ...serverCells], charts, gauges, ...rest, status };
}

/** This dashboard's sessions on `server`. */
function ownOf(server: ServerState, sessions: readonly SessionState[]): SessionState[] {
  return sessions.filter((x) => sameServer(x.server, server.root));
}

/** The rows inside each server's pane it needs to show all it knows; `null` for one that cannot be reached (a line). */
function serverNeeds(
  servers: readonly ServerState[],
  sessions: readonly SessionState[],
  now: number,
  cursor: (root: string) => PaneCursor,
): (number | null)[] {
  return servers.map((server) =>
    server.lostSince !== null ? null : serverPaneNeed(server, ownOf(server, sessions), now, cursor(server.root)),
  );
}

/** The server view's rows, as the keys walk them: the model's, or (a view read without one) worked out here. */
function viewRows(input: ViewInput): readonly ServerRowRef[] {
  return input.serverRows ?? serverRowRefs(input.servers ?? [], input.sessions, liveFilter(input.ui), () => false);
}

/** Each pane's filter and cursor: the cursor drawn while the view has the keys, on the pane of its row. */
function paneCursors(input: ViewInput): (root: string) => PaneCursor {
  const rows = viewRows(input);
  const selected = rows[selectedIndex(rows, input.ui.serverCursor)];
  const filter = liveFilter(input.ui);
  return (root) => ({
    filter,
    marked: input.ui.serverFocused,
    selected: selected !== undefined && selected.root === root ? selected.model : null,
  });
}

/**
 * The server view's panes, placed in `area` by need (`serverViewRects`): each server's lines, its charts and (with
 * rows) a gauge; a server that cannot be reached is one bare line.
 */
function serverPanes(
  servers: readonly ServerState[],
  sessions: readonly SessionState[],
  area: Rect,
  now: number,
  out: {
    charts: ChartView[];
    gauges: GaugeView[];
    needs: readonly (number | null)[];
    cursor: (root: string) => PaneCursor;
  },
): CellView[] {
  const rects = serverViewRects(out.needs, area);
  return servers.map((server, i) => {
    const rect = rects[i] ?? area;
    const down = serverDownLine(server, now, rect.width);
    if (down !== null)
      return { id: `server:${server.root}`, rect, title: '', focused: false, lines: [down], bare: true };
    const inner = {
      left: rect.left + 1,
      top: rect.top + 1,
      width: Math.max(1, rect.width - 2),
      height: Math.max(0, rect.height - 2),
    };
    const cursor = out.cursor(server.root);
    const content = serverPaneContent(server, ownOf(server, sessions), { ...inner, now }, cursor);
    for (const chart of content.charts) out.charts.push(chartAt(`server:${server.root}:${chart.key}`, inner, chart));
    if (content.gauge !== null) {
      out.gauges.push({
        id: `server:${server.root}:gauge`,
        rect: {
          left: inner.left,
          top: inner.top + content.gauge.row,
          width: inner.width,
          height: content.gauge.height,
        },
        percent: content.gauge.percent,
        label: content.gauge.label,
      });
    }
    const filtered = cursor.filter.trim() === '' ? '' : ` · filter “${cursor.filter.trim()}”`;
    const title = `server ${server.root}${content.titleNote === null ? '' : ` · ${content.titleNote}`}${filtered}`;
    return {
      id: `server:${server.root}`,
      rect,
      title: ` ${truncateMiddle(title, Math.max(1, rect.width - 4))} `,
      focused: cursor.marked && cursor.selected !== null,
      lines: content.lines,
    };
  });
}

/** Where a pane's chart sits on the screen: `chart.row` rows into the pane's inside, 3 rows per series. */
function chartAt(id: string, inner: Rect, chart: ChartSpec): ChartView {
  return {
    id,
    rect: { left: inner.left, top: inner.top + chart.row, width: inner.width, height: chart.series.length * 3 },
    series: chart.series,
  };
}

/**
 * What the key router needs of the screen as it stands: it bounds what the keys may scroll to (a transcript's oldest
 * line, the help's last page) and where `n` goes. `drawn`, the view of the frame on screen when it shows the same
 * screen, saves building the view again.
 */
export function keyWorld(input: ViewInput, now: number, drawn?: DashboardView): KeyWorld {
  const shown = drawn ?? toViewModel(input);
  const scrollLimits = Object.fromEntries(
    shown.cells.flatMap((cell) => (cell.scrollLimit === undefined ? [] : [[cell.id, cell.scrollLimit]])),
  );
  return {
    lastSeq: input.log.lastSeq(),
    logEntries: input.log.size(),
    logPage: Math.max(1, shown.log.rect.height - 2),
    helpPages: helpPageCount(input.size),
    scrollLimits,
    now,
    lastJournalSeq: input.journal?.at(-1)?.seq ?? 0,
    ...(input.ui.log.view !== 'frames' ? { nextFault: debugLogView(input).nextFault } : {}),
  };
}

/** The log's debug or wire view for the screen's log pane (also what Ctrl-S saves and where `n` goes). */
export function debugLogView(input: ViewInput): WireLogView {
  const { ui } = input;
  const rect = screenLayout(input.size, shownZoom(ui.zoom, input.sessions.length)).log;
  return buildWireLogView(input.journal ?? [], {
    tags: logTags(input),
    hscroll: ui.log.hscroll,
    hideCopies: !ui.log.showCopies,
    width: Math.max(1, rect.width - 2),
    height: Math.max(0, rect.height - 2),
    scroll: 0,
    mode: ui.log.view === 'wire' ? 'wire' : 'readable',
    filter: ui.log.filterText,
    session: ui.log.filterSession,
    cursor: ui.logFocused ? ui.log.cursor : null,
    untilSeq: ui.log.paused ? ui.log.pausedAtJournalSeq : null,
  });
}

/** The log pane's lines as shown, each ending in LF: what Ctrl-S saves as text. */
export function logPaneText(input: ViewInput): string {
  if (input.ui.log.view !== 'frames') return shownText(debugLogView(input));
  return toViewModel(input)
    .log.lines.map((line) => `${line.map((s) => s.text).join('')}\n`)
    .join('');
}

function debugLogPane(input: ViewInput, rect: Rect): LogPaneView {
  const { ui } = input;
  const width = Math.max(1, rect.width - 2);
  const height = Math.max(0, rect.height - 2);
  const view = debugLogView(input);
  const parts = [ui.log.view === 'wire' ? 'wire' : 'debug'];
  parts.push(ui.log.paused ? 'PAUSED · space follows' : 'following');
  parts.push(view.position);
  if (ui.log.filterSession !== null) parts.push(`session ${ui.log.filterSession}`);
  if (ui.log.filterText !== '') parts.push(`text "${ui.log.filterText}"`);
  if (ui.log.hscroll > 0) parts.push(`→ ${view.hscroll} cols`);
  parts.push(
    ui.log.inspecting
      ? 'PgUp/PgDn scroll · Esc closes'
      : ui.logFocused
        ? 'Enter inspects · n next fault · v view'
        : 'v view',
  );
  let lines: Line[] = view.lines.map((l) => l.line);
  if (ui.log.inspecting && ui.logFocused) {
    const entry = view.selected;
    lines =
      entry === undefined
        ? [[seg('nothing under the cursor', 'dim')]]
        : inspectEntry(entry).flatMap((section) => [
            [seg(truncateEnd(section.title, width), 'accent')],
            ...section.lines.map((text): Line => [seg(sideways(`  ${text}`, ui.log.hscroll, width))]),
          ]);
    const top = Math.min(ui.log.inspectorScroll, Math.max(0, lines.length - height));
    lines = lines.slice(top, top + height);
  }
  return {
    rect,
    title: ` ${truncateEnd(parts.join(' · '), Math.max(1, rect.width - 4))} `,
    focused: ui.logFocused,
    lines,
  };
}

function logPane(input: ViewInput, rect: Rect): LogPaneView {
  const { ui, log } = input;
  if (ui.log.view !== 'frames') return debugLogPane(input, rect);
  const filter: LogFilter = { session: ui.log.filterSession, text: ui.log.filterText };
  const height = Math.max(0, rect.height - 2);
  const width = Math.max(1, rect.width - 2);
  const hideCopies = !ui.log.showCopies;
  const entries = selectWindow(log, {
    filter,
    untilSeq: ui.log.paused ? ui.log.pausedAtSeq : null,
    scroll: ui.log.scroll,
    height,
    hideCopies,
  });
  const parts = ['events'];
  if (ui.log.paused) {
    parts.push(`PAUSED · ${countAfter(log, ui.log.pausedAtSeq, filter, hideCopies)} new · space follows`);
  } else {
    parts.push(ui.log.scroll > 0 ? `scrolled up ${ui.log.scroll}` : 'following');
  }
  if (filter.session !== null) parts.push(`session ${filter.session}`);
  if (filter.text !== '') parts.push(`text "${filter.text}"`);
  if (ui.log.showCopies) parts.push('feed copies shown · e folds');
  if (ui.log.hscroll > 0) parts.push(`→ ${ui.log.hscroll} cols`);
  parts.push(`${log.size()}/${log.capacity} kept`);
  if (ui.logFocused) parts.push('l/Esc back');
  const tags = logTags(input);
  return {
    rect,
    title: ` ${truncateEnd(parts.join(' · '), Math.max(1, rect.width - 4))} `,
    focused: ui.logFocused,
    lines: entries.map((e) => logLine(e, width, { tags, hscroll: ui.log.hscroll })),
  };
}

/** The log's tag column: as wide as the sessions' tags, the feeds' shortened (`log-tags.ts`). */
function logTags(input: ViewInput): TagColumn {
  return tagColumn(
    input.sessions.map((s) => s.tag),
    (input.servers ?? []).length,
  );
}

/** `text` from column `from` on (`…` marking what is left out on the left), cut to `width` with `…`. */
function sideways(text: string, from: number, width: number): string {
  const chars = [...text];
  const start = Math.min(Math.max(0, from), Math.max(0, chars.length - 1));
  return truncateEnd(start > 0 ? `${ELLIPSIS}${chars.slice(start + 1).join('')}` : text, width);
}

/**
 * One log entry as a line: time, session tag (one width for all, `log-tags.ts`), kind mark, raw payload (line breaks
 * shown as ⏎), scrolled sideways by `hscroll` columns. A session's frame that a server's feed repeated is marked `⇄`
 * (the copy is folded into it); a feed's copy shown on its own line is marked `=`.
 */
export function logLine(
  entry: LogEntry,
  width: number,
  options: { readonly tags?: TagColumn; readonly hscroll?: number } = {},
): Line {
  const kind = entry.kind === 'data' ? 'data:' : entry.kind === 'comment' ? ':' : '#';
  const tone: Tone = entry.kind === 'data' ? 'normal' : entry.kind === 'comment' ? 'dim' : 'warn';
  const mark = entry.echo === 'echoed' ? '⇄' : entry.echo === 'copy' ? '=' : ' ';
  const raw = entry.raw.replace(/\r\n|\r|\n/g, '⏎');
  const head = [
    seg(`${clockTime(entry.time)} `, 'dim'),
    seg(`${options.tags ? options.tags.show(entry.session) : entry.session} `, 'accent'),
    seg(`${kind.padEnd(5)}${mark} `, tone),
  ];
  const used = head.reduce((n, s) => n + [...s.text].length, 0);
  return clipLine([...head, seg(sideways(raw, options.hscroll ?? 0, Math.max(1, width - used)), tone)], width);
}

/** Cells a prompt's field keeps when the label is longer than the status bar leaves room for. */
const PROMPT_FIELD_MIN = 24;

const PROMPT_LABEL: Readonly<Record<string, string>> = {
  'add-server': 'add session · server URL',
  'add-model': 'add session · model id (org/name[@revision])',
  'add-key': 'add session · API key',
  'edit-server': 'edit session · server URL',
  'edit-model': 'edit session · model id (org/name[@revision])',
  'edit-key': 'edit session · API key',
  filter: 'filter log by text (empty clears)',
  'server-filter': 'filter the server view (model, server or state; empty clears)',
  jump: 'jump to session (number, tag or model)',
  save: 'save log to (.jsonl: whole filtered history, for replay · .txt: the lines shown)',
  options: 'chat settings (left out: server default)',
  'save-sessions': 'write the open sessions as a --config file to',
};

/**
 * The status bar: in a replay, always its banner first (`REPLAY 01:23 / 04:10 ×4`), then the prompt, the notice, or
 * where the focus is and the keys.
 */
function statusLine(input: ViewInput, width: number, focused: SessionState | undefined, withInput = false): Line {
  if (input.replay === undefined) return statusBody(input, width, focused, withInput);
  const banner = replayBanner(input.replay);
  const room = Math.max(1, width - [...banner].length);
  return clipLine([seg(banner, 'selected'), ...statusBody(input, room, focused, withInput)], width);
}

/** `REPLAY 01:23 / 04:10 ×4 `, with `paused` or `end` where it applies. */
export function replayBanner(replay: ReplayPosition): string {
  const state = replay.finished ? ' end' : replay.paused ? ' paused' : '';
  const speed = replay.speed === 1 ? '' : ` ×${replay.speed}`;
  return `REPLAY ${mmss(replay.at)} / ${mmss(replay.length)}${speed}${state} `;
}

/** `01:23`, `1:02:03` past an hour. */
function mmss(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${two(Math.floor(s / 60))}:${two(s % 60)}`;
}

function statusBody(input: ViewInput, width: number, focused: SessionState | undefined, withInput: boolean): Line {
  const { ui } = input;
  if (ui.prompt !== null) {
    const p = ui.prompt;
    if (CONFIRM_PROMPTS.has(p.kind))
      return clipLine([seg(`[${p.kind}] `, 'warn'), seg(keyHints('confirm'), 'dim')], width);
    const editing = input.sessions.find((s) => s.id === p.sessionId);
    const hint =
      p.kind === 'add-server'
        ? ` [Enter: ${input.defaultServer}]`
        : p.kind === 'add-model' || p.kind === 'edit-model'
          ? ` on ${p.server ?? ''}`
          : p.kind === 'add-key'
            ? ` [Enter: ${p.keyDefault ?? 'no key'} · - none]`
            : p.kind === 'edit-key'
              ? ` [Enter: ${p.keyDefault === 'keep' ? 'keep the key' : 'no key'} · - none]`
              : p.kind === 'save-sessions' && p.overwrite !== undefined && p.overwrite === p.text
                ? ' [Enter writes over it]'
                : '';
    const who = p.kind.startsWith('edit-') && editing ? ` ${editing.tag}` : '';
    const label = (PROMPT_LABEL[p.kind] ?? p.kind).replace(/^edit session/, `edit session${who}`);
    const head = `${label}${hint}: `;
    const typed = lineAt(p.text, p.cursor);
    // A key is never shown as typed: one • a character, the kept key of `e` as ••• until something is typed, and `-`
    // said in words.
    const masked = KEY_PROMPTS.has(p.kind);
    const kept = masked && p.text === '' && p.kind === 'edit-key' && p.keyDefault === 'keep' ? '•••' : '';
    const shown = masked && p.text === '-' ? lineAt('- (no key)', typed.cursor === 0 ? 0 : undefined) : typed;
    const mask = masked && p.text !== '-' ? '•' : undefined;
    // The field gets what the label leaves, and at least a few cells (the label is cut for them): the cursor stays
    // in sight however long the text; the tail goes where there is room.
    const cells = [...shown.text].length + 1 + kept.length;
    const field = Math.min(cells, Math.max(Math.min(PROMPT_FIELD_MIN, width), width - [...head].length));
    const line: Segment[] = [
      seg(truncateEnd(head, width - field), 'accent'),
      ...(kept !== '' ? [seg(kept, 'dim')] : []),
      ...editedLine(shown, field - kept.length, mask),
    ];
    // The tail (the reason of a refusal, the server's model ids, or the keys) takes the cells left: never the field's.
    const room = width - line.reduce((n, x) => n + [...x.text].length, 0);
    if (p.error) line.push(seg(truncateEnd(`  ${p.error}`, room), 'error'));
    else if (MODEL_PROMPTS.has(p.kind) && input.modelChoices) line.push(...choiceSegments(p, input.modelChoices, room));
    else if (room > 2) line.push(seg(truncateEnd(`  ${keyHints('prompt')}`, room), 'dim'));
    return clipLine(line, width);
  }
  if (input.notice !== null) return clipLine([seg(input.notice.text, input.notice.tone)], width);
  if (ui.serverView && ui.serverFocused && input.sessions.length > 0) return serverStatus(input, width);
  const zoomed = ui.zoom === 'log' || (ui.zoom === 'session' && focused !== undefined) ? ' zoomed · f returns ·' : '';
  const where = `${ui.logFocused ? 'log' : (focused?.tag ?? 'no session')}${zoomed}`;
  const keys = keyHints(ui.logFocused ? 'log' : ui.composing ? 'typing' : 'commands');
  if (withInput && focused !== undefined) return typedInStatus(ui, focused, where, keys, width);
  return clipLine([seg(`[${where}] `, 'accent'), seg(keys, 'dim')], width);
}

/** `[s7] > what is typed▏  Enter sends · …`: the focused session's input line, for a cell with no row to show it. */
function typedInStatus(ui: UiState, focused: SessionState, where: string, keys: string, width: number): Line {
  const head = `[${where}] > `;
  const typed = lineAt(ui.inputs[focused.id] ?? '', ui.cursors[focused.id]);
  const field = Math.max(PROMPT_FIELD_MIN, Math.floor((width - [...head].length) / 2));
  const line: Segment[] = [seg(head, 'accent'), ...editedLine(typed, Math.min(field, [...typed.text].length + 1))];
  const room = width - line.reduce((n, x) => n + [...x.text].length, 0);
  if (room > 2) line.push(seg(truncateEnd(`  ${keys}`, room), 'dim'));
  return clipLine(line, width);
}

/**
 * The status bar while the server view has the keys: the filter, what the keys would do on the selected row (before
 * anything is confirmed), then the view's keys.
 */
function serverStatus(input: ViewInput, width: number): Line {
  const rows = viewRows(input);
  const row = rows[selectedIndex(rows, input.ui.serverCursor)];
  const filter = liveFilter(input.ui).trim();
  const where = `[servers${filter === '' ? '' : ` · filter “${filter}” · ${rows.length} row${rows.length === 1 ? '' : 's'}`}] `;
  const hint = row === undefined ? (filter === '' ? 'no model on these servers yet' : 'no row matches') : rowHint(row);
  return clipLine([seg(where, 'accent'), seg(hint), seg(`  ${keyHints('servers')}`, 'dim')], width);
}

/**
 * After a model prompt: the server's ids that match what is typed (`3 on server: a/b, a/c, …`, the one Tab put in
 * the prompt highlighted), or how asking for them went. Any id is accepted, listed or not.
 */
function choiceSegments(prompt: Prompt, choices: ModelChoices, room: number): Segment[] {
  const { ids, state, message } = choices;
  if (ids.length === 0) {
    if (state === 'asking') return [seg('  asking the server for its models…', 'dim')];
    if (state === 'failed') {
      // Brief: the reason cut so that the line still says typing works.
      const why = truncateEnd(message ?? 'failed', Math.max(8, room - 36));
      return [seg(`  models not listed: ${why} · any id works`, 'warn')];
    }
    return [seg('  the server lists no models · any id works', 'dim')];
  }
  const { matches, current } = completionCandidates(prompt.text, prompt.completing, ids);
  if (matches.length === 0) return [seg(`  none of the ${ids.length} on server match · any id works`, 'dim')];
  const head = `  ${matches.length} on server: `;
  const out: Segment[] = [seg(head, 'dim')];
  let left = room - head.length;
  for (const [i, id] of matches.entries()) {
    const sep = i === 0 ? '' : ', ';
    const more = i < matches.length - 1 ? `, ${ELLIPSIS}`.length : 0;
    if (i > 0 && sep.length + id.length + more > left) {
      out.push(seg(`, ${ELLIPSIS}`, 'dim'));
      break;
    }
    if (sep !== '') out.push(seg(sep, 'dim'));
    out.push(seg(id, i === current ? 'accent' : 'normal'));
    left -= sep.length + id.length;
  }
  return out;
}

/** The help box's width at this screen size: at most 160 columns, and 4 short of a wide screen. */
function helpWidth(size: ScreenSize): number {
  return Math.min(size.cols, Math.max(40, Math.min(160, size.cols - 4)));
}

/**
 * The help's pages at this screen size: every key with its description wrapped (never cut), as many a page as the
 * screen holds between a title and a footer, a key's lines never split across pages.
 */
function helpPages(size: ScreenSize): Line[][] {
  const keyWidth = Math.max(...KEY_HELP.map(([k]) => k.length));
  const inner = helpWidth(size) - 4;
  // A narrow box gives the keys their own line over the description rather than a column of their own.
  const column = inner - keyWidth - 2 >= 24;
  const room = Math.max(1, size.rows - 2 - 3);
  const pages: Line[][] = [[]];
  for (const [keys, what] of KEY_HELP) {
    const entry: Line[] = column
      ? wrap(what, inner - keyWidth - 2).map((text, i) => [
          seg(`${(i === 0 ? keys : '').padEnd(keyWidth)}  `, 'accent'),
          seg(text),
        ])
      : [[seg(keys, 'accent')], ...wrap(what, inner - 2).map((text): Line => [seg(`  ${text}`)])];
    const page = pages.at(-1) ?? [];
    if (page.length > 0 && page.length + entry.length > room) pages.push([...entry]);
    else page.push(...entry);
  }
  return pages;
}

/** The last screen size's page count: every key press asks (the help wrapped whole each time, at 100 sessions). */
let pageCount: { readonly cols: number; readonly rows: number; readonly pages: number } | undefined;

/** How many pages the help has at this screen size (what PgDn in the help may turn to). */
export function helpPageCount(size: ScreenSize): number {
  if (pageCount?.cols !== size.cols || pageCount.rows !== size.rows)
    pageCount = { cols: size.cols, rows: size.rows, pages: helpPages(size).length };
  return pageCount.pages;
}

function helpOverlay(size: ScreenSize, pageIndex: number): { rect: Rect; lines: Line[] } {
  const width = helpWidth(size);
  const inner = width - 4;
  const pages = helpPages(size);
  const at = Math.min(Math.max(0, pageIndex), pages.length - 1);
  const paged = pages.length > 1;
  const lines: Line[] = [
    [seg(paged ? `modeldeck keys · page ${at + 1} of ${pages.length}` : 'modeldeck keys', 'accent')],
    ...(pages[at] ?? []),
    [],
    [
      seg(
        !paged
          ? 'Any key closes this help.'
          : at < pages.length - 1
            ? 'PgDn/space next page · PgUp back · other keys close'
            : 'PgUp back · other keys close',
        'dim',
      ),
    ],
  ];
  const height = Math.min(size.rows, lines.length + 2);
  return {
    rect: {
      left: Math.max(0, Math.floor((size.cols - width) / 2)),
      top: Math.max(0, Math.floor((size.rows - height) / 2)),
      width,
      height,
    },
    lines: lines.map((l) => clipLine(l, inner)),
  };
}
