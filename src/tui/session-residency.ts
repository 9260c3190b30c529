/**
 * A session follows its model's life on the server after its own load stream ended: what the server's feed (or a
 * `/v1/models` poll) says of the model, as {@link ModelNews}, moves the session between `ready`, `unloaded` (with
 * why) and `reloading`, and keeps the server's unload countdown. Pure; times come from the news.
 *
 * A session's own stream is the authority while it runs: news never touches a session that is connecting, queued,
 * loading, reconnecting or in error. A `loading` news never demotes a ready session (the feed may lag behind the
 * session's own `ready`); only an unload, or a list taken after the session saw its model ready, does.
 */

import type { SessionState, UnloadCause } from './session-state.js';

/** What the server said of one model (`id@revision`). */
export type ModelNews =
  /** It left memory. */
  | { readonly kind: 'unloaded'; readonly model: string; readonly cause: UnloadCause }
  /**
   * Every model the server knows, as a list taken at `listedAt` (a feed snapshot, a `/v1/models` poll): a model not
   * resident in it left memory (for `cause`), unless the session saw it ready after the list was taken.
   */
  | {
      readonly kind: 'listed';
      readonly listedAt: number;
      readonly cause: UnloadCause;
      readonly models: Readonly<Record<string, ListedModelState>>;
    }
  /** It is being loaded. */
  | {
      readonly kind: 'loading';
      readonly model: string;
      readonly stage: string | null;
      readonly progress: { readonly current: number; readonly total: number | null } | null;
    }
  /** It is resident; `expiresInMs` when the server said when it unloads it (`null`: never). */
  | { readonly kind: 'resident'; readonly model: string; readonly expiresInMs?: number | null }
  /** Its load failed. */
  | { readonly kind: 'failed'; readonly model: string }
  /** Its unload countdown changed (`null`: none scheduled, as while it generates). */
  | { readonly kind: 'expiry'; readonly model: string; readonly expiresInMs: number | null }
  /** The server restarted: nothing of the old run is resident (a snapshot of the new run follows). */
  | { readonly kind: 'restarted' };

/** A model as a list gives it. */
export type ListedModelState =
  | { readonly state: 'resident'; readonly expiresInMs?: number | null }
  | {
      readonly state: 'loading';
      readonly stage: string | null;
      readonly progress: { readonly current: number; readonly total: number | null } | null;
    }
  | { readonly state: 'out' }
  /** The list names it without saying whether it is in memory: no news. */
  | { readonly state: 'unknown' };

/** The model a session's news is about: the server's `id@revision` once it sent one, else the id as typed. */
export function sessionModelKey(state: SessionState): string {
  if (state.resolvedModel !== null) return state.resolvedModel;
  return state.model.includes('@') ? state.model : `${state.model}@main`;
}

/** Applies one news to a session (unchanged when it is not about its model, or its own stream still runs). */
export function followNews(state: SessionState, news: ModelNews, at: number): SessionState {
  if (news.kind !== 'restarted' && news.kind !== 'listed' && news.model !== sessionModelKey(state)) return state;
  switch (news.kind) {
    case 'restarted':
      return leave(state, 'restart', at);
    case 'unloaded':
      return leave(state, news.cause, at);
    case 'listed':
      return followList(state, news, at);
    case 'loading':
      return loadingAgain(state, news, at);
    case 'resident':
      return back(state, news.expiresInMs, at);
    case 'failed':
      return state.phase === 'reloading' ? { ...state, phase: 'unloaded', reload: null } : state;
    case 'expiry':
      // Kept from the first moment the model is resident, even before this session's own `ready` arrives (the feed
      // may be quicker than the load stream): its ready keeps it.
      return state.phase === 'unloaded' || state.phase === 'reloading' || state.phase === 'error'
        ? state
        : withExpiry(state, news.expiresInMs, at);
    default: {
      const never: never = news;
      throw new TypeError(`unknown news ${JSON.stringify(never)}`);
    }
  }
}

/** The session's own `u` went through: its model left memory because it asked. */
export function unloadedBySession(state: SessionState, at: number): SessionState {
  // The feed may have told first (an unload by request): the session's own answer says whose request it was.
  const left = state.phase === 'unloaded' && state.unloaded?.cause === 'request' ? state : leave(state, 'request', at);
  return left.unloaded === null || left.phase !== 'unloaded'
    ? left
    : { ...left, unloaded: { ...left.unloaded, bySession: true } };
}

function followList(state: SessionState, news: Extract<ModelNews, { kind: 'listed' }>, at: number): SessionState {
  const model = sessionModelKey(state);
  const listed = news.models[model] ?? { state: 'out' };
  switch (listed.state) {
    case 'resident':
      return back(state, listed.expiresInMs, at);
    case 'loading':
      return loadingAgain(state, { kind: 'loading', model, stage: listed.stage, progress: listed.progress }, at);
    case 'unknown':
      return state;
    case 'out':
      // A list taken before the session saw the model ready says nothing of it now.
      if (state.residentSince !== null && state.residentSince >= news.listedAt) return state;
      return leave(state, news.cause, at);
    default: {
      const never: never = listed;
      throw new TypeError(`unknown listed state ${JSON.stringify(never)}`);
    }
  }
}

/** The model left memory (only news for a session that saw it there: its own stream says the rest). */
function leave(state: SessionState, cause: UnloadCause, at: number): SessionState {
  if (state.phase !== 'ready' && state.phase !== 'cached' && state.phase !== 'reloading') return state;
  return {
    ...state,
    phase: 'unloaded',
    unloaded: { cause, at },
    reload: null,
    expiresAt: null,
    residentSince: null,
  };
}

function loadingAgain(state: SessionState, news: Extract<ModelNews, { kind: 'loading' }>, at: number): SessionState {
  // A reply waiting for its first piece while the server loads the model: its figures say so.
  const transcript = markReloaded(state.transcript);
  if (state.phase === 'unloaded') {
    return {
      ...state,
      phase: 'reloading',
      reload: { startedAt: at, forChat: state.chatBusy, stage: news.stage, progress: news.progress },
      transcript,
    };
  }
  if (state.phase === 'reloading' && state.reload !== null) {
    return { ...state, reload: { ...state.reload, stage: news.stage, progress: news.progress }, transcript };
  }
  return state;
}

function back(state: SessionState, expiresInMs: number | null | undefined, at: number): SessionState {
  if (state.phase === 'unloaded' || state.phase === 'reloading') {
    return withExpiry(
      {
        ...state,
        phase: 'ready',
        reloadedIn: state.reload === null ? null : at - state.reload.startedAt,
        reload: null,
        unloaded: null,
        residentSince: at,
      },
      expiresInMs,
      at,
    );
  }
  return state.phase === 'ready' || state.phase === 'cached' ? withExpiry(state, expiresInMs, at) : state;
}

function withExpiry(state: SessionState, expiresInMs: number | null | undefined, at: number): SessionState {
  if (expiresInMs === undefined) return state;
  const expiresAt = expiresInMs === null ? null : at + expiresInMs;
  return expiresAt === state.expiresAt ? state : { ...state, expiresAt };
}

function markReloaded(transcript: SessionState['transcript']): SessionState['transcript'] {
  const last = transcript[transcript.length - 1];
  if (last?.role !== 'assistant' || !last.streaming || last.metrics === undefined) return transcript;
  if (last.metrics.firstAt !== null || last.metrics.reloaded === true) return transcript;
  return [...transcript.slice(0, -1), { ...last, metrics: { ...last.metrics, reloaded: true } }];
}
