/**
 * One server's pane in the server view, as plain data: how its feed stands, its throughput charts, and a table of
 * every model on it (state, stage, progress, subscribers, size). Without a live feed the table is what polling
 * `/v1/models` found, with this dashboard's own sessions' loads laid over it. Pure.
 */

import { failureHint } from '../client/failures.js';
import { formatBytes, formatDuration, percentDone } from '../client/format.js';
import { truncateEnd, truncateMiddle } from '../common/text.js';
import { clipLine, seg, textBar, type Line } from './lines.js';
import { POLL_INTERVAL_MS, rowOf, type ServerModelRow, type ServerState } from './server-state.js';
import type { SessionState } from './session-state.js';
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
}

/** Rows of a contrib gauge (its percentage label shows from six). */
const GAUGE_ROWS = 6;

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
            seg(` · feed since ${formatDuration(now - feed.since)} · ${server.events} events`, 'dim'),
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
        clipLine(
          [seg(`polling /v1/models every ${POLL_INTERVAL_MS / 1000} s; loads shown are this dashboard’s own`, 'dim')],
          width,
        ),
        ...(server.pollFailure ? [clipLine([seg(`poll: ${server.pollFailure.message}`, 'error')], width)] : []),
      ];
    case 'failed':
      return [
        clipLine([seg(`✗ feed refused: ${feed.failure.message}`, 'error')], width),
        clipLine([seg(failureHint(feed.failure), 'warn')], width),
      ];
    case 'closed':
      return [clipLine([seg('feed closed', 'dim')], width)];
    default: {
      const never: never = feed;
      throw new TypeError(`unknown feed status ${JSON.stringify(never)}`);
    }
  }
}

/** Rows to show: the server's, with the sessions' own loads laid over them when the feed is not live. */
function rowsOf(server: ServerState, own: readonly SessionState[]): ServerModelRow[] {
  const rows = new Map(Object.entries(server.rows));
  if (server.feed.state !== 'live') {
    for (const s of own) {
      const id = s.resolvedModel ?? s.model;
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
  const order: Record<string, number> = { loading: 0, resident: 1, failed: 2, 'on-disk': 3, unloaded: 4 };
  return [...rows.values()].sort(
    (a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.model.localeCompare(b.model),
  );
}

function tableLines(rows: readonly ServerModelRow[], width: number, height: number): Line[] {
  const fixed = { state: 9, stage: 9, progress: 14, subs: 5, size: 9 };
  const modelWidth = Math.max(8, width - (fixed.state + fixed.stage + fixed.progress + fixed.subs + fixed.size));
  const pad = (text: string, w: number): string => truncateEnd(text, w - 1).padEnd(w);
  const header = `${pad('MODEL', modelWidth)}${pad('STATE', fixed.state)}${pad('STAGE', fixed.stage)}${pad('PROGRESS', fixed.progress)}${pad('SUBS', fixed.subs)}SIZE`;
  const out: Line[] = [clipLine([seg(header, 'dim')], width)];
  if (rows.length === 0) out.push([seg(truncateEnd('no models known on this server yet', width), 'dim')]);
  for (const r of rows) {
    if (out.length >= height) break;
    const percent = r.progress ? percentDone(r.progress) : null;
    const progress =
      r.progress === null
        ? ''
        : percent === null
          ? r.stage === 'download'
            ? formatBytes(r.progress.current)
            : String(r.progress.current)
          : textBar(percent, fixed.progress - 1);
    const tone =
      r.state === 'loading' ? 'accent' : r.state === 'resident' ? 'ok' : r.state === 'failed' ? 'error' : 'dim';
    const subs = r.subscribers === null ? '' : String(r.subscribers);
    out.push(
      clipLine(
        [
          seg(pad(truncateMiddle(r.model, modelWidth - 1), modelWidth)),
          seg(pad(r.state, fixed.state), tone),
          seg(pad(r.stage ?? '', fixed.stage), 'dim'),
          seg(progress.padEnd(fixed.progress), tone),
          seg(pad(r.chats > 0 ? `${subs}+${r.chats}c` : subs, fixed.subs)),
          seg(r.sizeBytes === null ? '' : formatBytes(r.sizeBytes), 'dim'),
        ],
        width,
      ),
    );
    if (r.note !== null && out.length < height)
      out.push(clipLine([seg(`  ${r.note}`, r.state === 'failed' ? 'error' : 'dim')], width));
  }
  return out;
}

/** The pane of `server`, `own` being this dashboard's sessions on it, in `width` × `height` cells. */
export function serverPaneContent(
  server: ServerState,
  own: readonly SessionState[],
  box: { readonly width: number; readonly height: number; readonly now: number },
): ServerPaneContent {
  const { width, height, now } = box;
  const lines: Line[] = [
    ...feedLine(server, now, width),
    ...server.facts.map((fact) => clipLine([seg(fact, 'dim')], width)),
  ];
  const rows = rowsOf(server, own);
  const charts: ChartSpec[] = [];
  // Throughput: the feed's when it is live (it sees every client), else the sum of this dashboard's sessions.
  const length = Math.max(1, width - 2);
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
  const tableRows = Math.min(height, rows.length * 2 + 2);
  const spare = height - lines.length - tableRows;
  const series = [
    { title: rateTitle('download', download, (v) => `${formatBytes(v)}/s`), percents: toPercents(download) },
    { title: rateTitle('tokens/s', tokens, (v) => String(Math.round(v))), percents: toPercents(tokens) },
  ];
  if (spare >= 6) {
    charts.push({ key: 'rates', row: lines.length, series });
    for (let i = 0; i < 6; i++) lines.push([]);
  } else if (spare >= 3) {
    const busy = tokens.some((v) => v > 0) && !download.some((v) => v > 0);
    charts.push({ key: 'rates', row: lines.length, series: [busy ? series[1]! : series[0]!] });
    for (let i = 0; i < 3; i++) lines.push([]);
  }
  lines.push(...tableLines(rows, width, Math.max(1, height - lines.length)));
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
  return { lines: lines.slice(0, height), charts, gauge };
}
