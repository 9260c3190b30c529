/**
 * One dashboard session as plain data, and the pure reducer that moves it along as load events, failures and chat
 * pieces arrive. Times are milliseconds since the Unix epoch, always taken from the action (never from a clock here).
 */

import type { LoadEvent } from '../protocol/events.js';
import type { ChatTurn } from '../client/chat-stream.js';
import type { Failure } from '../client/failures.js';
import type { SessionUpdate } from '../client/session-update.js';
import { addThroughput, NO_THROUGHPUT, type Throughput } from './throughput.js';

/** Where a session stands. `cached` is `ready` for a model that was already resident in server memory. */
export type SessionPhase = 'connecting' | 'loading' | 'ready' | 'cached' | 'error' | 'reconnecting';

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
}

/** How one reply went, for the figures under it. Times are ms since the epoch, from the actions. */
export interface ReplyMetrics {
  /** When the request was sent. */
  readonly sentAt: number;
  /** When the first piece of text arrived, `null` before. */
  readonly firstAt: number | null;
  /** When the reply ended (done, stopped or failed), `null` while it streams. */
  readonly endedAt: number | null;
  /** Pieces (streamed deltas) received: about one token each. */
  readonly pieces: number;
  /** The server's token counts from its `usage` chunk, `null` when it sent none (the view counts pieces then). */
  readonly usage: { readonly prompt: number; readonly completion: number } | null;
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
    resolvedModel: null,
    freshAttempt: true,
    transcript: [],
    chatBusy: false,
    downloadRate: NO_THROUGHPUT,
    tokenRate: NO_THROUGHPUT,
  };
}

/** True when the model is usable for chat. */
export function canChat(state: SessionState): boolean {
  return state.phase === 'ready' || state.phase === 'cached';
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
      };
    case 'event':
      return applyEvent(state, action.event, action.at);
    case 'failed':
      return {
        ...state,
        phase: action.retryAt === null ? 'error' : 'reconnecting',
        retryAt: action.retryAt,
        error: action.failure,
        stages: closeStages(state.stages, action.at),
      };
    case 'chat-sent':
      return {
        ...state,
        chatBusy: true,
        transcript: bound([
          ...state.transcript,
          { role: 'user', content: action.text, streaming: false },
          {
            role: 'assistant',
            content: '',
            streaming: true,
            metrics: { sentAt: action.at, firstAt: null, endedAt: null, pieces: 0, usage: null },
          },
        ]),
      };
    case 'chat-delta':
      return {
        ...state,
        tokenRate: addThroughput(state.tokenRate, action.at, 1),
        transcript: updateReply(state.transcript, (reply) => ({
          ...reply,
          content: reply.content + action.text,
          ...(reply.metrics
            ? {
                metrics: {
                  ...reply.metrics,
                  firstAt: reply.metrics.firstAt ?? action.at,
                  pieces: reply.metrics.pieces + 1,
                },
              }
            : {}),
        })),
      };
    case 'chat-done':
      return {
        ...state,
        chatBusy: false,
        transcript: updateReply(state.transcript, (reply) => endReply(reply, action.at, action.usage ?? null)),
      };
    case 'chat-stopped':
      return {
        ...state,
        chatBusy: false,
        transcript: updateReply(state.transcript, (reply) => ({ ...endReply(reply, action.at, null), stopped: true })),
      };
    case 'chat-failed': {
      const finished = updateReply(state.transcript, (reply) => endReply(reply, action.at, null));
      return {
        ...state,
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

function applyEvent(previous: SessionState, event: LoadEvent, at: number): SessionState {
  const state: SessionState = previous.freshAttempt
    ? { ...previous, stages: [], download: null, weights: null, stage: null, freshAttempt: false }
    : previous;
  const base = { ...state, error: null, retryAt: null, resolvedModel: event.model };
  switch (event.status) {
    case 'loading': {
      const stages = enterStage(state.stages, event.stage, at);
      const progress = event.progress;
      return {
        ...base,
        phase: 'loading',
        stage: event.stage,
        stages,
        download: event.stage === 'download' && progress ? sample(state.download, progress, at) : state.download,
        downloadRate:
          event.stage === 'download' && progress
            ? // The first figure of an attempt may include bytes kept from an earlier one: only deltas count.
              addThroughput(state.downloadRate, at, state.download ? progress.current - state.download.current : 0)
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
  return { current: progress.current, total: progress.total, rate, at, advancedAt };
}

function updateReply(
  transcript: readonly TranscriptEntry[],
  update: (reply: TranscriptEntry) => TranscriptEntry,
): readonly TranscriptEntry[] {
  const last = transcript[transcript.length - 1];
  if (last === undefined || last.role !== 'assistant' || !last.streaming) return transcript;
  return [...transcript.slice(0, -1), update(last)];
}

function endReply(reply: TranscriptEntry, at: number, usage: ReplyMetrics['usage']): TranscriptEntry {
  return {
    ...reply,
    streaming: false,
    ...(reply.metrics ? { metrics: { ...reply.metrics, endedAt: at, usage } } : {}),
  };
}

function bound(transcript: readonly TranscriptEntry[]): readonly TranscriptEntry[] {
  return transcript.length > TRANSCRIPT_LIMIT ? transcript.slice(transcript.length - TRANSCRIPT_LIMIT) : transcript;
}
