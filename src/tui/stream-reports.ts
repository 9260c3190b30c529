/**
 * What the sockets report, applied to the model: a session's update (`session`) and a server's feed or poll
 * (`server`), one at a time or as a batch of those that came within a few ms (`batch`, which the runtime sends). A batch
 * is the same as its reports applied one after the other, in order; it only copies the model's records once, on
 * their first change, where one report at a time copied the hundred sessions' record for each of a fleet's thousands
 * of events a second. Pure: the draft a batch writes into is its own copy, never the model it was given.
 */

import type { SessionUpdate } from '../client/session-update.js';
import {
  keyFor,
  redactUpdate,
  type DashboardModel,
  type Effect,
  type SessionEntry,
  type Update,
} from './dashboard-model.js';
import { serviceRoot } from '../client/server-url.js';
import { serverNews } from './server-news.js';
import { reduceServer, type ServerAction, type ServerState } from './server-state.js';
import { followNews } from './session-residency.js';
import { reduceSession, type SessionState } from './session-state.js';

/** What a session's controller reported. */
export interface SessionReport {
  readonly type: 'session';
  readonly id: string;
  readonly update: SessionUpdate;
}

/** What a server's feed (or its `/v1/models` poll) reported. */
export interface ServerReport {
  readonly type: 'server';
  readonly root: string;
  readonly action: ServerAction;
}

/** One report from the sockets. */
export type StreamReport = SessionReport | ServerReport;

/** The model a batch is changing: the records it changed are its own copies, written in place until it ends. */
interface Draft {
  readonly base: DashboardModel;
  sessions: Record<string, SessionEntry> | null;
  servers: Record<string, ServerState> | null;
  readonly effects: Effect[];
}

/** Applies `reports` in order: the model and the effects the same reports one at a time would give. Pure. */
export function applyReports(model: DashboardModel, reports: readonly StreamReport[]): Update {
  const draft: Draft = { base: model, sessions: null, servers: null, effects: [] };
  for (const report of reports) {
    switch (report.type) {
      case 'session':
        sessionReported(draft, report.id, report.update);
        break;
      case 'server':
        serverReported(draft, report.root, report.action);
        break;
      default: {
        const never: never = report;
        throw new TypeError(`unknown stream report ${JSON.stringify(never)}`);
      }
    }
  }
  if (draft.sessions === null && draft.servers === null) return { model, effects: draft.effects };
  return {
    model: { ...model, sessions: draft.sessions ?? model.sessions, servers: draft.servers ?? model.servers },
    effects: draft.effects,
  };
}

/**
 * The open sessions' ids by their server's service root, in screen order: who a server's news is about, looked up
 * rather than found by a walk over every session for each feed event.
 */
export function sessionsByRoot(
  order: readonly string[],
  sessions: Readonly<Record<string, SessionEntry>>,
): Readonly<Record<string, readonly string[]>> {
  const out: Record<string, string[]> = {};
  for (const id of order) {
    const entry = sessions[id];
    if (entry === undefined) continue;
    const root = serviceRoot(entry.spec.server);
    (out[root] ??= []).push(id);
  }
  return out;
}

function sessionsOf(draft: Draft): Readonly<Record<string, SessionEntry>> {
  return draft.sessions ?? draft.base.sessions;
}

function setSession(draft: Draft, id: string, entry: SessionEntry, state: SessionState): void {
  draft.sessions ??= { ...draft.base.sessions };
  draft.sessions[id] = { ...entry, state };
}

function sessionReported(draft: Draft, id: string, update: SessionUpdate): void {
  const entry = sessionsOf(draft)[id];
  if (entry === undefined) return;
  setSession(draft, id, entry, reduceSession(entry.state, redactUpdate(update, draft.base.secrets)));
}

/**
 * The server's view, and the sessions on it, which follow their models there (unloaded, loading again, the unload
 * countdown); a server found to have no feed is polled, and the read-only sessions waiting for a load to join try
 * again.
 */
function serverReported(draft: Draft, root: string, action: ServerAction): void {
  const server = (draft.servers ?? draft.base.servers)[root];
  if (server === undefined) return;
  const next = reduceServer(server, action);
  draft.servers ??= { ...draft.base.servers };
  draft.servers[root] = next;
  const ids = draft.base.serverSessions[root] ?? [];
  const news = serverNews(server, action);
  if (news.length > 0) {
    for (const id of ids) {
      const entry = sessionsOf(draft)[id];
      if (entry === undefined) continue;
      const state = news.reduce((s, n) => followNews(s, n, action.at), entry.state);
      if (state !== entry.state) setSession(draft, id, entry, state);
    }
  }
  if (action.type === 'feed-status' && action.status.state === 'unsupported' && server.feed.state !== 'unsupported') {
    draft.effects.push({ type: 'poll-models', root, apiKey: keyFor(draft.base, root) });
  }
  for (const id of attachWaiting(sessionsOf(draft), next, ids)) draft.effects.push({ type: 'retry', id });
}

/**
 * The read-only sessions of `ids` (those on `server`) that found their model neither loaded nor loading, and whose
 * model the server now lists as loading or resident: they try again, and so join the load another client started.
 */
function attachWaiting(
  sessions: Readonly<Record<string, SessionEntry>>,
  server: ServerState,
  ids: readonly string[],
): string[] {
  const bare = (id: string): string => id.replace(/@main$/, '');
  const out: string[] = [];
  for (const id of ids) {
    const state = sessions[id]?.state;
    if (state === undefined || state.phase !== 'error' || state.error?.kind !== 'read-only') continue;
    const row = Object.values(server.rows).find((r) => bare(r.model) === bare(state.resolvedModel ?? state.model));
    // A key that may only watch cannot join a load (403): it asks again once the model is resident.
    const canJoin = state.error.status !== 403;
    if (row?.state === 'resident' || (row?.state === 'loading' && canJoin)) out.push(id);
  }
  return out;
}
