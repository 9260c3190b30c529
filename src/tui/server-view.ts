/**
 * One server's pane in the server view, as plain data: how its feed stands, its throughput charts, and a table of
 * every model on it (state, stage, progress, subscribers, size). Without a live feed the table is what polling its
 * kind's routes found, with this dashboard's own sessions' loads laid over it. Pure.
 */

import { failureHint } from '../client/failures.js';
import { formatBytes, formatDuration, percentDone } from '../client/format.js';
import { truncateMiddle } from '../common/text.js';
import { clipLine, seg, type Line } from './lines.js';
import type { ServerKind } from '../client/server-kind.js';
import {
  lostWord,
  POLL_INTERVAL_MS,
  pollRoutes,
  rowOf,
  type ServerModelRow,
  type ServerState,
} from './server-state.js';
import type { SessionState } from './session-state.js';
import { tableLines } from './server-table.js';
import { clockTime } from './wire-log-view.js';
import { rateTitle, throughputSeries, toPercents } from './throughput.js';

/** A chart inside a pane: rows from the top of the pane's inside, and its series (as percentages of their peak). */
export interface ChartSpec {
  /** Unique within the pane. */
  readonly key: string;
  readonly row: number;
  readonly series: readonly { readonly title: string; readonly percents: readonly number[] }[];
}

/** What a server pane shows. */
export interface ServerPaneContent {
  readonly lines: readonly Line[];
  readonly charts: readonly ChartSpec[];
  /** A contrib gauge for the busiest load, where the pane has six rows to spare for it. */
  readonly gauge: {
    readonly row: number;
    readonly height: number;
    readonly percent: number;
    readonly label: string;
  } | null;
  /** The feed's state in a word, for the pane's title, when the pane had no row for its feed line. */
  readonly titleNote: string | null;
}

/** Rows of a contrib gauge (its percentage label shows from six). */
const GAUGE_ROWS = 6;

/**
 * What the server process holds, after the feed's figures: its resident memory as the feed last told it (after each
 * load, pull and unload) and the pulls under way (files onto its disk, no memory), each with its stage's percentage.
 */
function heldSegments(server: ServerState): Line {
  const pulls = Object.values(server.pulls).map((pull) => {
    const percent = pull.progress === null ? null : percentDone(pull.progress);
    return `${truncateMiddle(pull.model, 32)} ${pull.stage ?? ''}${percent === null ? '' : ` ${percent}%`}`;
  });
  return [
    ...(server.rss === null ? [] : [seg(` · rss ${formatBytes(server.rss.bytes)}`, 'dim')]),
    ...(pulls.length === 0 ? [] : [seg(` · pulling ${pulls.join(', ')}`, 'warn')]),
  ];
}

/** `polling /api/ps and /api/tags every 1.5 s (ollama)`. */
const pollWords = (kind: ServerKind | null): string =>
  `polling ${pollRoutes(kind)} every ${POLL_INTERVAL_MS / 1000} s${kind === null ? '' : ` (${kind})`}`;

/** What a poll of each kind can tell of residency, in a few words under the feed's line. */
const KIND_TELLS: Readonly<Record<ServerKind | 'unknown', string>> = {
  unknown: 'states shown once its kind is known',
  modeldeck: 'loads shown are this dashboard’s own',
  'transformers-serve': 'its list is its disk cache: in memory or not is unknown',
  ollama: 'in memory per /api/ps, on disk per /api/tags',
  llamacpp: 'each model’s status as the router gives it',
  openai: 'serves what it lists; loads and unloads nothing on request',
};

function feedLine(server: ServerState, now: number, width: number): Line[] {
  const feed = server.feed;
  switch (feed.state) {
    case 'connecting':
      return [
        clipLine(
          [
            seg(
              `◌ connecting to the live feed (GET /events)${feed.attempt > 1 ? `, attempt ${feed.attempt}` : ''}…`,
              'warn',
            ),
          ],
          width,
        ),
      ];
    case 'live':
      return [
        clipLine(
          [
            seg('● live', 'ok'),
            seg(
              ` · feed since ${formatDuration(now - feed.since)} · ${server.events} event${server.events === 1 ? '' : 's'}`,
              'dim',
            ),
            ...heldSegments(server),
          ],
          width,
        ),
      ];
    case 'reconnecting': {
      const wait = feed.retryAt === null ? 0 : feed.retryAt - now;
      return [
        clipLine(
          [
            seg(`↻ feed lost, reconnecting${wait > 0 ? ` in ${Math.ceil(wait / 1000)}s` : '…'}`, 'warn'),
            seg(' (Last-Event-ID resumes it)', 'dim'),
          ],
          width,
        ),
        clipLine([seg(feed.failure.message, 'error')], width),
      ];
    }
    case 'unsupported':
      return [
        clipLine([seg('no live feed on this server (404 on /events)', 'warn')], width),
        clipLine([seg(pollWords(server.kind), 'dim')], width),
        clipLine([seg(KIND_TELLS[server.kind ?? 'unknown'], 'dim')], width),
        ...(server.pollFailure ? [clipLine([seg(`poll: ${server.pollFailure.message}`, 'error')], width)] : []),
      ];
    case 'failed':
      return [
        clipLine([seg(`✗ feed refused: ${feed.failure.message}`, 'error')], width),
        clipLine([seg(failureHint(feed.failure, 'dashboard'), 'warn')], width),
      ];
    case 'closed':
      return [clipLine([seg('feed closed', 'dim')], width)];
    default: {
      const never: never = feed;
      throw new TypeError(`unknown feed status ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Rows to show, in the order the table shows them: the server's, with the sessions' own loads laid over them when the
 * feed is not live (the server view's cursor walks these, `server-cursor.ts`).
 */
export function serverPaneRows(server: ServerState, own: readonly SessionState[]): ServerModelRow[] {
  const rows = new Map(Object.entries(server.rows));
  if (server.feed.state !== 'live') {
    for (const s of own) {
      // The list's own spelling of the session's model (`org/m` for `org/m@main`): one row for one model.
      const mine = s.resolvedModel ?? s.model;
      const id = [...rows.keys()].find((key) => atMain(key) === atMain(mine)) ?? mine;
      const base: ServerModelRow = rowOf(id, rows.get(id));
      const progress = s.stage === 'download' ? s.download : s.stage === 'weights' ? s.weights : null;
      switch (s.phase) {
        case 'loading':
          rows.set(id, {
            ...base,
            state: 'loading',
            stage: s.stage,
            progress: progress ? { current: progress.current, total: progress.total } : null,
          });
          break;
        case 'ready':
        case 'cached':
          rows.set(id, { ...base, state: 'resident', stage: null, progress: null });
          break;
        case 'error':
          rows.set(id, {
            ...base,
            state: base.state === 'resident' ? 'resident' : 'failed',
            note: s.error?.message ?? base.note,
          });
          break;
        default:
          rows.set(id, base);
      }
    }
  }
  const order: Record<string, number> = { loading: 0, resident: 1, failed: 2, unknown: 3, 'on-disk': 4, unloaded: 5 };
  return [...rows.values()].sort(
    (a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.model.localeCompare(b.model),
  );
}

/** `org/m` and `org/m@main` alike. */
const atMain = (id: string): string => id.replace(/@main$/, '');

/** The server view's filter and cursor, as one pane draws them. */
export interface PaneCursor {
  /** Rows whose model, server or state contain this text (any case); `''` for all. */
  readonly filter: string;
  /** The view has the keys: the cursor's column is drawn. */
  readonly marked: boolean;
  /** The selected row's model, when the cursor is on this server. */
  readonly selected: string | null;
}

/** Whether `row` on `root` matches the view's filter: its model, its server or its state contains the text. */
export function rowMatches(row: ServerModelRow, root: string, filter: string): boolean {
  const text = filter.trim().toLowerCase();
  if (text === '') return true;
  return `${row.model} ${root} ${row.state}`.toLowerCase().includes(text);
}

/** The rows the pane shows: the server's ({@link serverPaneRows}) that match the filter. */
function shownRows(
  server: ServerState,
  own: readonly SessionState[],
  cursor: PaneCursor | undefined,
): ServerModelRow[] {
  const rows = serverPaneRows(server, own);
  return cursor === undefined ? rows : rows.filter((row) => rowMatches(row, server.root, cursor.filter));
}

/**
 * A server that cannot be reached, in one line (its models are not known while it is away, so a table and charts
 * would only show what is no longer true): `✗ http://host:port unreachable since 12:01:03 · retry in 3s · why`. `null` while it answers.
 */
export function serverDownLine(server: ServerState, now: number, width: number): Line | null {
  if (server.lostSince === null) return null;
  const feed = server.feed;
  const wait = feed.state === 'reconnecting' && feed.retryAt !== null ? feed.retryAt - now : 0;
  const doing =
    feed.state === 'reconnecting'
      ? `${wait > 0 ? `retry in ${Math.ceil(wait / 1000)}s` : 'reconnecting…'}`
      : pollWords(server.kind);
  const failure = feed.state === 'reconnecting' ? feed.failure : server.pollFailure;
  return clipLine(
    [
      seg(`✗ ${server.root}`, 'error'),
      seg(` ${lostWord(server)} since ${clockTime(server.lostSince).slice(0, 8)} · ${doing}`, 'warn'),
      ...(failure ? [seg(` · ${failure.message}`, 'dim')] : []),
    ],
    width,
  );
}

/** A short word for the feed, for a pane's title when its inside has no row to spare for the feed's line. */
function feedWord(server: ServerState): string {
  switch (server.feed.state) {
    case 'connecting':
      return '◌ connecting';
    case 'live':
      return '● live';
    case 'reconnecting':
      return '↻ reconnecting';
    case 'unsupported':
      return 'no feed · polling';
    case 'failed':
      return '✗ feed refused';
    case 'closed':
      return 'feed closed';
    default: {
      const never: never = server.feed;
      throw new TypeError(`unknown feed status ${JSON.stringify(never)}`);
    }
  }
}

/** Rows the pane's inside needs to show its feed and every model (charts and the gauge come out of what is left). */
export function serverPaneNeed(
  server: ServerState,
  own: readonly SessionState[],
  now: number,
  cursor?: PaneCursor,
): number {
  const rows = shownRows(server, own, cursor);
  const notes = rows.filter((r) => r.note !== null).length;
  return feedLine(server, now, 80).length + server.facts.length + 1 + Math.max(1, rows.length + notes);
}

/** The pane of `server`, `own` being this dashboard's sessions on it, in `width` × `height` cells. */
export function serverPaneContent(
  server: ServerState,
  own: readonly SessionState[],
  box: { readonly width: number; readonly height: number; readonly now: number },
  cursor?: PaneCursor,
): ServerPaneContent {
  const { width, height, now } = box;
  const rows = shownRows(server, own, cursor);
  // The feed's state, then what the server's kind tells of it (an Ollama's /api/ps, a vLLM's /metrics).
  const feedLines = [
    ...feedLine(server, now, width),
    ...server.facts.map((fact) => clipLine([seg(fact, 'dim')], width)),
  ];
  // Too short for the feed's lines beside the whole table: the feed says its state in the title instead (a row is
  // worth more than the feed's details).
  const folded = height < feedLines.length + 1 + Math.max(1, rows.length);
  const lines: Line[] = folded ? [] : [...feedLines];
  const charts: ChartSpec[] = [];
  const tableRows = Math.min(height, rows.length + rows.filter((r) => r.note !== null).length + 1);
  const chart = chartsFor(server, own, now, Math.max(1, width - 2), height - lines.length - tableRows);
  if (chart !== null) {
    charts.push({ key: 'rates', row: lines.length, series: chart });
    for (let i = 0; i < chart.length * 3; i++) lines.push([]);
  }
  lines.push(...paneTable(rows, width, Math.max(1, height - lines.length), now, cursor));
  let gauge: ServerPaneContent['gauge'] = null;
  const loading = rows.find((r) => r.state === 'loading' && r.progress !== null && r.progress.total !== null);
  if (loading && loading.progress && height - lines.length >= GAUGE_ROWS) {
    gauge = {
      row: lines.length,
      height: GAUGE_ROWS,
      percent: percentDone(loading.progress) ?? 0,
      label: `${loading.stage ?? ''} ${truncateMiddle(loading.model, Math.max(8, width - 20))}`,
    };
  }
  return { lines: lines.slice(0, height), charts, gauge, titleNote: folded ? feedWord(server) : null };
}

/** The table, with the cursor's column while the view has the keys; a filter that leaves no row says so. */
function paneTable(
  rows: readonly ServerModelRow[],
  width: number,
  height: number,
  now: number,
  cursor: PaneCursor | undefined,
): Line[] {
  if (rows.length === 0 && cursor !== undefined && cursor.filter.trim() !== '') {
    return [clipLine([seg(`no model here matches “${cursor.filter.trim()}” (Esc clears the filter)`, 'dim')], width)];
  }
  return tableLines(rows, width, height, now, cursor?.marked === true ? { selected: cursor.selected } : undefined);
}

/**
 * The throughput charts that fit in `spare` rows (3 a series) and move: a series that stayed at zero over the whole
 * window says nothing a chart would add. The feed's rates when it is live (it sees every client), else the sum of
 * this dashboard's sessions.
 */
function chartsFor(
  server: ServerState,
  own: readonly SessionState[],
  now: number,
  length: number,
  spare: number,
): ChartSpec['series'] | null {
  const sum = (pick: (s: SessionState) => ServerState['downloadRate']): number[] => {
    const total = new Array<number>(length).fill(0);
    // Sessions on one model follow one load: count each model once.
    const byModel = new Map<string, SessionState>();
    for (const s of own) byModel.set(s.resolvedModel ?? s.model, s);
    for (const s of byModel.values()) {
      throughputSeries(pick(s), now, length).forEach((v, i) => (total[i] = (total[i] ?? 0) + v));
    }
    return total;
  };
  const live = server.feed.state === 'live';
  const download = live ? throughputSeries(server.downloadRate, now, length) : sum((s) => s.downloadRate);
  const tokens = live ? throughputSeries(server.tokenRate, now, length) : sum((s) => s.tokenRate);
  const series = [
    { values: download, title: rateTitle('download', download, (v) => `${formatBytes(v)}/s`) },
    { values: tokens, title: rateTitle('tokens/s', tokens, (v) => String(Math.round(v))) },
  ]
    .filter((s) => s.values.some((v) => v > 0))
    .slice(0, Math.floor(Math.max(0, spare) / 3))
    .map((s) => ({ title: s.title, percents: toPercents(s.values) }));
  return series.length === 0 ? null : series;
}
