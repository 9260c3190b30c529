/**
 * A session's figures and states in words, for its pane: the state line (`✓ ready in 2.5s · unloads in 4m`,
 * `○ unloaded: idle timeout at 12:03:01`, `◌ queued · 2nd · waiting for a load slot (2 running)`), a finished load's
 * summary, the gauges' figures and a reply's. Every rate is over the same samples as the figures beside it and over a
 * window long enough to mean something ({@link MIN_RATE_WINDOW_MS}); none is shown otherwise. Pure.
 */

import { CANCELLED_CODE } from '../client/failures.js';
import { formatBytes, formatDuration } from '../client/format.js';
import type { QueuePlace } from '../protocol/residency-fields.js';
import { clipLine, seg, type Line, type Segment } from './lines.js';
import type { ProgressState, ReplyMetrics, SessionState, Unloaded } from './session-state.js';
import { MIN_RATE_WINDOW_MS } from './throughput.js';
import { clockTime } from './wire-log-view.js';
import type { ServerTimings } from '../client/server-timings.js';

/** Fewest tokens a reply's tokens/s is computed over (after the first, which is the time to first token). */
export const MIN_RATE_TOKENS = 4;

/**
 * A running download whose byte count has not grown for this long (ms) shows as stalled: its speed and ETA give way to
 * "stalled · no data for N s". Heartbeats keep a stream open without progress, so only growing figures count.
 */
export const STALL_AFTER_MS = 5000;

/** Silence (ms) before the shown speed starts to decay towards zero. */
const DECAY_AFTER_MS = 1000;

/** Time constant (ms) of that decay. */
const DECAY_WINDOW_MS = 2000;

/** The session's server, when it cannot be reached: since when, and what the dashboard does about it. */
export interface ServerLost {
  readonly since: number;
  readonly doing: string;
  /**
   * What the server does: `unreachable` (no answer, or the feed broke), or `not serving (HTTP 503)` when it answers
   * its list with a 5xx (a vLLM starting up, a gateway with nothing behind it): it is there, but tells nothing.
   */
  readonly state: string;
}

/** The state line: where the session stands, then what it did (the summary), cut to `width`. */
export function stateLine(session: SessionState, now: number, width: number, lost: ServerLost | null): Line {
  let line = stateSegments(session, now);
  if (lost !== null && (session.phase === 'ready' || session.phase === 'cached' || session.phase === 'unloaded')) {
    // The load stream ended at ready: only the server's feed (or poll) can tell that the server went away since.
    line = [seg(`⚠ server ${lost.state} since ${clockTime(lost.since).slice(0, 8)} · ${lost.doing}`, 'warn')];
  }
  // Activity first, so a narrow cell cuts the summary rather than "replying".
  if (session.chatBusy) line = [...line.slice(0, 1), seg(' · replying…', 'accent'), ...line.slice(1)];
  return clipLine(line, width);
}

/** The state in a word or two with its mark, for a pane title when the pane has no row for the state line. */
export function shortState(session: SessionState): string {
  switch (session.phase) {
    case 'connecting':
      return '◌ connecting';
    case 'queued':
      return '◌ queued';
    case 'loading':
      return '● loading';
    case 'ready':
    case 'cached':
      return '✓ ready';
    case 'unloaded':
      return '○ unloaded';
    case 'reloading':
      return '● loading again';
    case 'error':
      // A read-only session that found nothing to follow is waiting for another client, not failing; a cancelled load
      // was stopped on purpose.
      if (session.error?.kind === 'read-only') return '◌ waiting';
      return cancelled(session) ? '○ cancelled' : '✗ error';
    case 'reconnecting':
      return '↻ reconnecting';
    default: {
      const never: never = session.phase;
      throw new TypeError(`unknown phase ${String(never)}`);
    }
  }
}

/** The load was cancelled on the server (`POST /unload_model` during it, from this console or another client). */
function cancelled(session: SessionState): boolean {
  return session.error?.kind === 'server' && session.error.code === CANCELLED_CODE;
}

function stateSegments(session: SessionState, now: number): Segment[] {
  const attempt = session.attempt > 1 ? ` (attempt ${session.attempt})` : '';
  switch (session.phase) {
    case 'connecting':
      return [seg(`◌ connecting${attempt}…`, 'warn')];
    case 'queued':
      return queuedSegments(session, now);
    case 'loading':
      return [seg('● loading: ', 'accent'), seg(session.stage ?? '…', 'accent')];
    case 'ready':
      return [seg('✓ ready', 'ok'), seg(readyFigures(session, now).join(' · '), 'dim')];
    case 'cached':
      return [
        seg('✓ ready', 'ok'),
        seg([' · cached (already in server memory)', ...countdown(session, now)].join(' · '), 'dim'),
      ];
    case 'unloaded': {
      const why = session.unloaded === null ? 'no longer in server memory' : unloadedWords(session.unloaded);
      const when = session.unloaded === null ? '' : ` at ${clockTime(session.unloaded.at).slice(0, 8)}`;
      return [seg(`○ unloaded: ${why}${when}`, 'warn'), seg(' · a message loads it again', 'dim')];
    }
    case 'reloading':
      return reloadingSegments(session, now);
    case 'error':
      if (session.error?.kind === 'read-only')
        return [seg('◌ waiting for another client to load it', 'warn'), seg(' · read-only · r asks again', 'dim')];
      return cancelled(session)
        ? [seg('○ load cancelled', 'warn'), seg(' · r loads again and resumes', 'dim')]
        : [seg('✗ error', 'error'), seg(' · r retries', 'dim')];
    case 'reconnecting': {
      const wait = session.retryAt === null ? 0 : session.retryAt - now;
      return [
        seg(wait > 0 ? `↻ reconnecting in ${Math.ceil(wait / 1000)}s${attempt}` : `↻ reconnecting${attempt}…`, 'warn'),
      ];
    }
    default: {
      const never: never = session.phase;
      throw new TypeError(`unknown phase ${String(never)}`);
    }
  }
}

/** `◌ queued · 2nd · waiting for a load slot (2 running) · 4s`, or before the server says where: accepted, waiting. */
function queuedSegments(session: SessionState, now: number): Segment[] {
  const waited = session.queuedSince === null ? '' : ` · ${formatDuration(now - session.queuedSince)}`;
  const queue = session.queue;
  if (queue === null) return [seg('◌ accepted · waiting for the server to start the load', 'warn'), seg(waited, 'dim')];
  return [seg(`◌ queued · ${ordinal(queue.position)} · ${queueWords(queue)}`, 'warn'), seg(waited, 'dim')];
}

/** What a queued load waits for, in words: `waiting for a load slot (2 running)`. */
export function queueWords(queue: QueuePlace): string {
  const what =
    queue.reason === 'load_slot'
      ? 'a load slot'
      : queue.reason === 'model_slot'
        ? 'a model slot'
        : queue.reason === 'download' || queue.reason === 'download_connections'
          ? 'download connections'
          : queue.reason.replace(/_/g, ' ');
  const held = queue.heldBy.map((id) => id.replace(/@main$/, ''));
  const detail =
    held.length > 0
      ? `held by ${held.slice(0, 2).join(', ')}${held.length > 2 ? ` +${held.length - 2}` : ''}`
      : queue.running !== null
        ? `${queue.running} running`
        : '';
  return `waiting for ${what}${detail === '' ? '' : ` (${detail})`}`;
}

/** `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** Why the model left memory, in words. */
export function unloadedWords(unloaded: Unloaded): string {
  switch (unloaded.cause) {
    case 'idle':
      return 'idle timeout';
    case 'keep_alive':
      // A client's keep_alive (Ollama's semantics) ran out: 0 after its reply, or the seconds it asked for.
      return 'its keep_alive ran out';
    case 'request':
      return unloaded.bySession === true ? 'unloaded from this console' : "by another client's request";
    case 'evicted':
      return 'evicted for another model';
    case 'reset':
      return 'server reset';
    case 'cancelled':
      return 'load cancelled';
    case 'shutdown':
      return 'server shut down';
    case 'restart':
      return 'server restarted';
    case 'gone':
      return 'no longer in server memory';
    default: {
      const never: never = unloaded.cause;
      throw new TypeError(`unknown cause ${String(never)}`);
    }
  }
}

/** `● loading again: weights 40% · for your message` (or `· after idle timeout`). */
function reloadingSegments(session: SessionState, now: number): Segment[] {
  const reload = session.reload;
  const stage = reload?.stage ?? null;
  const progress = reload?.progress ?? null;
  const percent =
    progress !== null && progress.total !== null && progress.total > 0
      ? ` ${Math.floor((progress.current / progress.total) * 100)}%`
      : '';
  const why =
    reload?.forChat === true
      ? 'for your message'
      : session.unloaded !== null
        ? `after ${unloadedWords(session.unloaded)}`
        : '';
  const since = reload === null ? '' : formatDuration(now - reload.startedAt);
  return [
    seg(`● loading again${stage === null ? '…' : `: ${stage}${percent}`}`, 'accent'),
    seg(
      [why, since]
        .filter((x) => x !== '')
        .map((x) => ` · ${x}`)
        .join(''),
      'dim',
    ),
  ];
}

/** After `✓ ready`: how long the load took, the countdown to its unload, what it fetched. */
function readyFigures(session: SessionState, now: number): string[] {
  if (session.reloadedIn !== null) {
    return ['', `loaded again in ${formatDuration(session.reloadedIn)}`, ...countdown(session, now)];
  }
  const first = session.stages[0];
  if (first === undefined) return ['', ...countdown(session, now)];
  const ends = session.stages.map((s) => s.endedAt ?? s.startedAt);
  const took = ` in ${formatDuration(Math.max(...ends) - first.startedAt)}`;
  return [took, ...countdown(session, now), downloadSummary(session)];
}

/** `unloads in 4m` while the server says when it unloads the model for idleness. */
function countdown(session: SessionState, now: number): string[] {
  if (session.expiresAt === null) return [];
  const left = session.expiresAt - now;
  return [left <= 0 ? 'unload due' : `unloads in ${formatCountdown(left)}`];
}

/** `45s`, `4m`, `1h05m`: coarse, so that the line does not tick every second for long waits. */
export function formatCountdown(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 90) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * What the download did: `100 MB at 3.9 MB/s` (the bytes this attempt fetched over the time between its first and
 * last sample), `54 MB on disk + 46 MB fetched at 3.9 MB/s` when the first sample already counted bytes (a resumed
 * download), `files already on disk` when there was no download stage.
 */
function downloadSummary(session: SessionState): string {
  const download = session.download;
  if (!session.stages.some((s) => s.name === 'download') || download === null) return 'files already on disk';
  const fetched = download.current - download.first.current;
  const span = download.at - download.first.at;
  const rate = span >= MIN_RATE_WINDOW_MS && fetched > 0 ? ` at ${formatBytes((fetched * 1000) / span)}/s` : '';
  const onDisk = download.first.current;
  return onDisk > 0
    ? `${formatBytes(onDisk)} on disk + ${formatBytes(fetched)} fetched${rate}`
    : `${formatBytes(fetched)}${rate}`;
}

/** Whole seconds without growth, once past {@link STALL_AFTER_MS}; `null` while the stage moves. */
export function stallTime(p: ProgressState, now: number): number | null {
  const silence = now - p.advancedAt;
  return silence >= STALL_AFTER_MS ? Math.floor(silence / 1000) : null;
}

/** The speed to show at `now`: the smoothed rate, decaying once no new units arrived for a second. */
function shownRate(p: ProgressState, now: number): number | null {
  if (p.rate === null) return null;
  const silence = now - p.advancedAt;
  return silence <= DECAY_AFTER_MS ? p.rate : p.rate * Math.exp(-(silence - DECAY_AFTER_MS) / DECAY_WINDOW_MS);
}

/**
 * A download gauge's figures, most telling first (a narrow pane drops from the end): bytes of total, speed, ETA, and
 * what was on disk before (the stage's first figure) when there was any.
 */
export function byteFigures(p: ProgressState, running: boolean, now: number): string[] {
  const parts = [
    p.total === null ? `${formatBytes(p.current)} so far` : `${formatBytes(p.current)} / ${formatBytes(p.total)}`,
  ];
  const rate = shownRate(p, now);
  if (running && stallTime(p, now) === null && rate !== null && rate > 0 && p.at - p.first.at >= MIN_RATE_WINDOW_MS) {
    parts.push(`${formatBytes(rate)}/s`);
    if (p.total !== null && p.total > p.current)
      parts.push(`ETA ${formatDuration(((p.total - p.current) / rate) * 1000)}`);
  }
  if (p.first.current > 0) parts.push(`${formatBytes(p.first.current)} were on disk`);
  return parts;
}

/** A weights gauge's figures: items of total, and the ETA while it runs. */
export function itemFigures(p: ProgressState, running: boolean, now: number): string[] {
  const parts = [p.total === null ? `${p.current} items so far` : `${p.current} / ${p.total} items`];
  const rate = shownRate(p, now);
  if (running && rate !== null && rate > 0 && p.total !== null && p.total > p.current) {
    parts.push(`ETA ${formatDuration(((p.total - p.current) / rate) * 1000)}`);
  }
  return parts;
}

/** The server's own figures: its generation and prompt rates, and a load it did for this reply (100 ms or more). */
function serverFigures(timings: ServerTimings | undefined): string[] {
  if (timings === undefined) return [];
  const parts: string[] = [];
  if (timings.tokensPerSecond !== undefined) parts.push(`server ${timings.tokensPerSecond.toFixed(1)} tok/s`);
  if (timings.promptTokensPerSecond !== undefined)
    parts.push(`prompt ${timings.promptTokensPerSecond.toFixed(0)} tok/s`);
  if (timings.loadMs !== undefined && timings.loadMs >= 100)
    parts.push(`server load ${formatDuration(timings.loadMs)}`);
  return parts;
}

/**
 * The figures under a reply: `ttft 0.3s · 41.2 tok/s · 18 in · 64 out`, `ttft 1.2s (reloaded)` when the model had to
 * be loaded again for it, then the server's own figures when it sent them (`server 100.0 tok/s · prompt 400 tok/s`). Without the server's `usage` the counts are the streamed pieces, marked `≈` (one piece is
 * about one token), and the prompt count is unknown. The rate counts the tokens after the first over the time from
 * the first to the end, and only over at least {@link MIN_RATE_WINDOW_MS} and {@link MIN_RATE_TOKENS} tokens.
 */
export function replyFigures(metrics: ReplyMetrics): string[] {
  const parts: string[] = [];
  const reloaded = metrics.reloaded === true ? ' (reloaded)' : '';
  if (metrics.firstAt !== null) {
    const ms = metrics.firstAt - metrics.sentAt;
    parts.push(`ttft ${ms < 1000 ? `${Math.round(ms)}ms` : formatDuration(ms)}${reloaded}`);
  } else if (reloaded !== '') parts.push('reloaded');
  const out = metrics.usage?.completion ?? metrics.pieces;
  const approx = metrics.usage === null ? '≈' : '';
  const span = metrics.endedAt !== null && metrics.firstAt !== null ? metrics.endedAt - metrics.firstAt : 0;
  if (span >= MIN_RATE_WINDOW_MS && out - 1 >= MIN_RATE_TOKENS) {
    parts.push(`${approx}${(((out - 1) * 1000) / span).toFixed(1)} tok/s`);
  }
  if (metrics.usage !== null) parts.push(`${metrics.usage.prompt} in`);
  parts.push(`${approx}${out} out`);
  return [...parts, ...serverFigures(metrics.serverTimings)];
}
