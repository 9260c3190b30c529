/**
 * One dashboard session as plain data, and the pure reducer that moves it along as load events, failures and chat
 * pieces arrive. Times are milliseconds since the Unix epoch, always taken from the action (never from a clock here).
 * What the server tells later about the model (unloaded, loading again, resident with a countdown) is applied by
 * `session-residency.ts`, to the same state.
 */

import { QUEUED_STAGE, type QueuePlace } from '../protocol/residency-fields.js';
import type { ChatTurn } from '../client/chat-stream.js';
import type { Failure } from '../client/failures.js';
import type { ChatChannel, SessionUpdate } from '../client/session-update.js';
import { addSpan, NO_THROUGHPUT, type Throughput } from './throughput.js';
import type { ServerTimings } from '../client/server-timings.js';

/**
 * Where a session stands. `queued`: the server accepted the load (HTTP 200) and it waits its turn, with or without a
 * `queued` event yet. `ready` and `cached` (a model already resident in server memory) only while the model is
 * resident, as far as the server has told; `unloaded`: it left server memory after the session saw it ready (a chat
 * or `r` loads it again); `reloading`: it is being loaded again on the server (for a chat, or by another client).
 */
export type SessionPhase =
  'connecting' | 'queued' | 'loading' | 'ready' | 'cached' | 'unloaded' | 'reloading' | 'error' | 'reconnecting';

/**
 * Why a model left server memory: the feed's unload reasons, `restart` (the server came back as a new run without
 * it) and `gone` (a snapshot or a poll no longer lists it resident, and nothing said why).
 */
export type UnloadCause =
  'idle' | 'keep_alive' | 'request' | 'evicted' | 'reset' | 'cancelled' | 'shutdown' | 'restart' | 'gone';

/** When and why the model left memory. */
export interface Unloaded {
  readonly cause: UnloadCause;
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** This session asked for it (`u`). */
  readonly bySession?: boolean;
}

/** A load of the model again, after it was unloaded. */
export interface Reload {
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  /** A message of this session brought it back (else another client, or `r`). */
  readonly forChat: boolean;
  readonly stage: string | null;
  readonly progress: { readonly current: number; readonly total: number | null } | null;
}

/** When one stage ran. */
export interface StageTiming {
  /** The stage name as sent (unknown stages kept raw). */
  readonly name: string;
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  /** Milliseconds since the epoch, or `null` while the stage runs. */
  readonly endedAt: number | null;
}

/** A stage's progress figures, with a smoothed rate. */
export interface ProgressState {
  /** Units done (bytes for `download`, items for `weights`). */
  readonly current: number;
  /** Units in the stage, or `null` when the server does not know (no percentage then). */
  readonly total: number | null;
  /** Units per second, exponentially smoothed over about two seconds; `null` until two samples. */
  readonly rate: number | null;
  /** Time of the latest sample, ms since the epoch. */
  readonly at: number;
  /**
   * The stage's first sample in this attempt: `current` then is what the server already had (a resumed download's
   * bytes on disk), and the samples since measure what this attempt did.
   */
  readonly first: { readonly current: number; readonly at: number };
  /**
   * When `current` last grew (or the stage's first sample), ms since the epoch. Samples that repeat the figure do not
   * move it, so the view can tell a stalled transfer from a live one.
   */
  readonly advancedAt: number;
}

/** One line of the transcript: a turn, or an error shown in its place. */
export interface TranscriptEntry {
  readonly role: 'user' | 'assistant' | 'error';
  readonly content: string;
  /** True while the assistant's reply is still arriving. */
  readonly streaming: boolean;
  /** An assistant reply's timing and token counts. */
  readonly metrics?: ReplyMetrics;
  /** The user stopped the reply: `content` is what had arrived. */
  readonly stopped?: boolean;
  /** The model's reasoning, apart from the answer (shown dimmed before it). */
  readonly reasoning?: string;
  /** The tool calls the reply made, as streamed: each name, then its arguments. */
  readonly toolCalls?: string;
}

/** How one reply went, for the figures under it. Times are ms since the epoch, from the actions. */
export interface ReplyMetrics {
  /** When the request was sent. */
  readonly sentAt: number;
  /** When the first piece of text arrived, `null` before. */
  readonly firstAt: number | null;
  /** When the latest piece arrived, `null` before the first. */
  readonly lastAt?: number | null;
  /** The model was not resident when the message went out, or was loaded again before the first piece. */
  readonly reloaded?: boolean;
  /** When the reply ended (done, stopped or failed), `null` while it streams. */
  readonly endedAt: number | null;
  /** Pieces (streamed deltas) received: about one token each. */
  readonly pieces: number;
  /** The server's token counts from its `usage` chunk, `null` when it sent none (the view counts pieces then). */
  readonly usage: { readonly prompt: number; readonly completion: number } | null;
  /** The server's own figures of the reply's speed (llama.cpp, Ollama), when it sent them. */
  readonly serverTimings?: ServerTimings;
}

/** What a session shows. */
export interface SessionState {
  /** Stable id, unique in the dashboard. */
  readonly id: string;
  /** Short tag used in the event log (`s1`, `s2`, …). */
  readonly tag: string;
  readonly server: string;
  /** The model as the user gave it. */
  readonly model: string;
  readonly phase: SessionPhase;
  /** The current (or last) stage, or `null` before the first event. */
  readonly stage: string | null;
  /** Connection attempt number, from 1. */
  readonly attempt: number;
  /** When the next reconnection attempt starts (ms since the epoch), while `reconnecting`. */
  readonly retryAt: number | null;
  /** Stages in the order they started, in this attempt. */
  readonly stages: readonly StageTiming[];
  /** `download` progress (bytes), or `null` before the stage. */
  readonly download: ProgressState | null;
  /** `weights` progress (items), or `null` before the stage. */
  readonly weights: ProgressState | null;
  /** The latest failure, kept while reconnecting so the user sees why. Cleared by the next event. */
  readonly error: Failure | null;
  /** While `queued`: where the load waits, once the server said (`null`: accepted, nothing said yet). */
  readonly queue: QueuePlace | null;
  /** Since when the load has waited (the HTTP 200, or the first `queued` event), while `queued`. */
  readonly queuedSince: number | null;
  /** Since when the model is resident as far as the session knows (its `ready`, or the server's news). */
  readonly residentSince: number | null;
  /** When the server will unload the model for idleness (ms since the epoch, on this clock), `null`: not said. */
  readonly expiresAt: number | null;
  /** Why the model left memory, while `unloaded` or `reloading`. */
  readonly unloaded: Unloaded | null;
  /** While `reloading`: the load again. */
  readonly reload: Reload | null;
  /** How long the last load again took (ms), once the model was back; `null` when there was none. */
  readonly reloadedIn: number | null;
  /** `id@revision` from the server's events, once known. */
  readonly resolvedModel: string | null;
  /** True until the first event of a new attempt (its events replace the old attempt's progress). */
  readonly freshAttempt: boolean;
  readonly transcript: readonly TranscriptEntry[];
  /** A reply is streaming. */
  readonly chatBusy: boolean;
  /** Download bytes per second, over time (from the `download` progress this session saw). */
  readonly downloadRate: Throughput;
  /** Reply pieces per second while chatting (one streamed delta is about one token). */
  readonly tokenRate: Throughput;
}

/** Everything that changes a session: what its controller reports. */
export type SessionAction = SessionUpdate;

/** Most transcript entries a session keeps; older ones are dropped. */
export const TRANSCRIPT_LIMIT = 200;

/** Time constant of the rate smoothing, in milliseconds. */
const RATE_WINDOW_MS = 2000;

/** A new session, before it connects. */
export function createSessionState(init: { id: string; tag: string; server: string; model: string }): SessionState {
  return {
    ...init,
    phase: 'connecting',
    stage: null,
    attempt: 0,
    retryAt: null,
    stages: [],
    download: null,
    weights: null,
    error: null,
    queue: null,
    queuedSince: null,
    residentSince: null,
    expiresAt: null,
    unloaded: null,
    reload: null,
    reloadedIn: null,
    resolvedModel: null,
    freshAttempt: true,
    transcript: [],
    chatBusy: false,
    downloadRate: NO_THROUGHPUT,
    tokenRate: NO_THROUGHPUT,
  };
}

/** True when a message can go out: the model is resident, or was and a chat loads it again on the server. */
export function canChat(state: SessionState): boolean {
  switch (state.phase) {
    case 'ready':
    case 'cached':
    case 'unloaded':
    case 'reloading':
      return true;
    case 'connecting':
    case 'queued':
    case 'loading':
    case 'error':
    case 'reconnecting':
      return false;
    default: {
      const never: never = state.phase;
      throw new TypeError(`unknown phase ${String(never)}`);
    }
  }
}

/** True when the session's own load is under way (connecting, waiting its turn, loading or reconnecting). */
export function isLoading(state: SessionState): boolean {
  return (
    state.phase === 'connecting' ||
    state.phase === 'queued' ||
    state.phase === 'loading' ||
    state.phase === 'reconnecting'
  );
}

/** The conversation to send: user and finished assistant turns, errors left out. */
export function chatHistory(state: SessionState): ChatTurn[] {
  const turns: ChatTurn[] = [];
  for (const entry of state.transcript) {
    if (entry.role === 'error' || entry.streaming) continue;
    if (entry.role === 'assistant' && entry.content === '') continue;
    turns.push({ role: entry.role, content: entry.content });
  }
  return turns;
}

/** Applies one action. Pure: returns a new state (or the same one when nothing changed). */
export function reduceSession(state: SessionState, action: SessionAction): SessionState {
  switch (action.type) {
    case 'connecting':
      return {
        ...state,
        phase: state.phase === 'reconnecting' || action.attempt > 1 ? 'reconnecting' : 'connecting',
        attempt: action.attempt,
        retryAt: null,
        freshAttempt: true,
        queue: null,
        queuedSince: null,
        reload: null,
        expiresAt: null,
      };
    case 'accepted':
      // The server took the request; the first event may be a while coming (a load waiting its turn).
      return { ...state, phase: 'queued', queue: null, queuedSince: action.at, error: null, retryAt: null };
    case 'event':
      return applyEvent(state, action);
    case 'failed':
      return {
        ...state,
        phase: action.retryAt === null ? 'error' : 'reconnecting',
        retryAt: action.retryAt,
        error: action.failure,
        stages: closeStages(state.stages, action.at),
      };
    case 'chat-sent':
      return sendReply(state, action.text, action.at);
    case 'chat-delta':
      return addPiece(state, action.text, action.at, action.channel);
    case 'chat-done': {
      const reply = lastReply(state.transcript);
      return {
        ...state,
        chatBusy: false,
        tokenRate: countUsage(state.tokenRate, reply?.metrics, action.usage?.completion),
        transcript: updateReply(state.transcript, (r) => endReply(r, action.at, action.usage ?? null, action.timings)),
      };
    }
    case 'chat-stopped':
      return {
        ...endReload(state),
        chatBusy: false,
        transcript: updateReply(state.transcript, (reply) => ({ ...endReply(reply, action.at, null), stopped: true })),
      };
    case 'chat-failed': {
      const finished = updateReply(state.transcript, (reply) => endReply(reply, action.at, null));
      return {
        ...endReload(state),
        chatBusy: false,
        transcript: bound([...finished, { role: 'error', content: action.failure.message, streaming: false }]),
      };
    }
    default: {
      const never: never = action;
      throw new TypeError(`unknown session action ${JSON.stringify(never)}`);
    }
  }
}

function applyEvent(previous: SessionState, update: Extract<SessionAction, { type: 'event' }>): SessionState {
  const { event, at } = update;
  const state: SessionState = previous.freshAttempt
    ? { ...previous, stages: [], download: null, weights: null, stage: null, freshAttempt: false }
    : previous;
  const base = { ...state, error: null, retryAt: null, resolvedModel: event.model, queue: null, queuedSince: null };
  switch (event.status) {
    case 'loading': {
      const stages = enterStage(state.stages, event.stage, at);
      const progress = event.progress;
      if (event.stage === QUEUED_STAGE) {
        return {
          ...base,
          phase: 'queued',
          stage: event.stage,
          stages,
          queue: update.queue ?? null,
          queuedSince: state.queuedSince ?? at,
        };
      }
      return {
        ...base,
        phase: 'loading',
        stage: event.stage,
        stages,
        download: event.stage === 'download' && progress ? sample(state.download, progress, at) : state.download,
        downloadRate:
          event.stage === 'download' && progress && state.download
            ? // Spread over the time since the last sample: the chart's rates and the summary's average agree.
              addSpan(state.downloadRate, state.download.at, at, progress.current - state.download.current)
            : state.downloadRate,
        weights: event.stage === 'weights' && progress ? sample(state.weights, progress, at) : state.weights,
      };
    }
    case 'ready':
      return {
        ...base,
        phase: event.cached ? 'cached' : 'ready',
        // Gauges keep the last figures the server sent: filling them up here would hide a server that never
        // reports a stage's end.
        stages: closeStages(state.stages, at),
        residentSince: at,
        // Its own countdown, else what the server's feed already said of it (it may come before this event).
        expiresAt:
          update.expiresInMs === undefined
            ? state.expiresAt
            : update.expiresInMs === null
              ? null
              : at + update.expiresInMs,
        unloaded: null,
        reload: null,
      };
    case 'error':
      return {
        ...base,
        phase: 'error',
        stages: closeStages(state.stages, at),
        error: { kind: 'server', message: event.message, ...(event.code !== undefined ? { code: event.code } : {}) },
      };
    default: {
      const never: never = event;
      throw new TypeError(`unknown load event ${JSON.stringify(never)}`);
    }
  }
}

function enterStage(stages: readonly StageTiming[], name: string, at: number): readonly StageTiming[] {
  const last = stages[stages.length - 1];
  if (last?.name === name && last.endedAt === null) return stages;
  return [...closeStages(stages, at), { name, startedAt: at, endedAt: null }];
}

function closeStages(stages: readonly StageTiming[], at: number): readonly StageTiming[] {
  const last = stages[stages.length - 1];
  if (last === undefined || last.endedAt !== null) return stages;
  return [...stages.slice(0, -1), { ...last, endedAt: at }];
}

function sample(
  previous: ProgressState | null,
  progress: { current: number; total: number | null },
  at: number,
): ProgressState {
  let rate: number | null = previous?.rate ?? null;
  if (previous !== null && at > previous.at && progress.current >= previous.current) {
    const dt = at - previous.at;
    const instant = ((progress.current - previous.current) * 1000) / dt;
    // Time-weighted smoothing: a long gap counts more than a burst of events a millisecond apart.
    const alpha = 1 - Math.exp(-dt / RATE_WINDOW_MS);
    rate = rate === null ? instant : rate + alpha * (instant - rate);
  }
  const advancedAt = previous !== null && progress.current <= previous.current ? previous.advancedAt : at;
  const first = previous?.first ?? { current: progress.current, at };
  return { current: progress.current, total: progress.total, rate, at, advancedAt, first };
}

/** A message went out: the user's turn and an empty reply, marked reloaded when the model had left memory. */
function sendReply(state: SessionState, text: string, at: number): SessionState {
  const reloaded = state.phase === 'unloaded' || state.phase === 'reloading';
  return {
    ...state,
    chatBusy: true,
    // The chat loads the model again on the server: say so until the server (or the first piece) says it is back.
    ...(state.phase === 'unloaded'
      ? { phase: 'reloading', reload: { startedAt: at, forChat: true, stage: null, progress: null } }
      : {}),
    transcript: bound([
      ...state.transcript,
      { role: 'user', content: text, streaming: false },
      {
        role: 'assistant',
        content: '',
        streaming: true,
        metrics: {
          sentAt: at,
          firstAt: null,
          lastAt: null,
          endedAt: null,
          pieces: 0,
          usage: null,
          ...(reloaded ? { reloaded } : {}),
        },
      },
    ]),
  };
}

/**
 * A piece of the reply arrived. The first one is the time to first token; each later one is counted over the time
 * since the one before (the tokens/s chart's rate). A first piece while the model was loading again says it is back.
 */
function addPiece(state: SessionState, text: string, at: number, channel?: ChatChannel): SessionState {
  const metrics = lastReply(state.transcript)?.metrics;
  const previousAt = metrics?.lastAt ?? metrics?.firstAt ?? null;
  const back = state.phase === 'reloading' && state.reload !== null;
  return {
    ...state,
    ...(back
      ? {
          phase: 'ready' as const,
          reloadedIn: at - (state.reload?.startedAt ?? at),
          reload: null,
          unloaded: null,
          residentSince: at,
        }
      : {}),
    tokenRate: previousAt === null ? state.tokenRate : addSpan(state.tokenRate, previousAt, at, 1),
    transcript: updateReply(state.transcript, (reply) => ({
      ...reply,
      ...(channel === undefined ? { content: reply.content + text } : {}),
      ...(channel === 'reasoning' ? { reasoning: (reply.reasoning ?? '') + text } : {}),
      ...(channel === 'tool-call' ? { toolCalls: (reply.toolCalls ?? '') + text } : {}),
      ...(reply.metrics
        ? {
            metrics: {
              ...reply.metrics,
              firstAt: reply.metrics.firstAt ?? at,
              lastAt: at,
              pieces: reply.metrics.pieces + 1,
            },
          }
        : {}),
    })),
  };
}

/**
 * A reply's tokens the pieces did not count (a server that sends several tokens in one piece): spread over the reply's
 * time without counting that time again, so the chart's total is the server's count.
 */
function countUsage(series: Throughput, metrics: ReplyMetrics | undefined, completion: number | undefined): Throughput {
  if (metrics === undefined || completion === undefined || metrics.firstAt === null) return series;
  const extra = completion - metrics.pieces;
  return extra > 0 ? addSpan(series, metrics.firstAt, metrics.lastAt ?? metrics.firstAt, extra, false) : series;
}

/**
 * A reply that ended before its first piece while the model was being loaded again for it: as far as this session
 * knows, the model is still out of memory (the server's feed says when it is back).
 */
function endReload(state: SessionState): SessionState {
  if (state.phase !== 'reloading' || state.reload?.forChat !== true) return state;
  return { ...state, phase: 'unloaded', reload: null };
}

function lastReply(transcript: readonly TranscriptEntry[]): TranscriptEntry | undefined {
  const last = transcript[transcript.length - 1];
  return last !== undefined && last.role === 'assistant' && last.streaming ? last : undefined;
}

function updateReply(
  transcript: readonly TranscriptEntry[],
  update: (reply: TranscriptEntry) => TranscriptEntry,
): readonly TranscriptEntry[] {
  const last = transcript[transcript.length - 1];
  if (last === undefined || last.role !== 'assistant' || !last.streaming) return transcript;
  return [...transcript.slice(0, -1), update(last)];
}

function endReply(
  reply: TranscriptEntry,
  at: number,
  usage: ReplyMetrics['usage'],
  serverTimings?: ServerTimings,
): TranscriptEntry {
  if (!reply.metrics) return { ...reply, streaming: false };
  const metrics: ReplyMetrics = { ...reply.metrics, endedAt: at, usage, ...(serverTimings ? { serverTimings } : {}) };
  return { ...reply, streaming: false, metrics };
}

function bound(transcript: readonly TranscriptEntry[]): readonly TranscriptEntry[] {
  return transcript.length > TRANSCRIPT_LIMIT ? transcript.slice(transcript.length - TRANSCRIPT_LIMIT) : transcript;
}
