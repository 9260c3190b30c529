/**
 * The model ids a server offers to the model prompt of `a` and `e`, and the pure reducer that keeps what its
 * `GET /v1/models` answered (asked when a model prompt opens on a server not asked yet). They add to what the server
 * view already knows of it (its feed, or its polls): see {@link modelChoices}.
 */

import type { ServerState } from './server-state.js';

/** Between asking a server for its models and giving up on an answer, in ms. */
export const LIST_TIMEOUT_MS = 5000;

/** What one server's `GET /v1/models` answered. */
export interface ModelList {
  readonly state: 'asking' | 'listed' | 'failed';
  /** The ids of its last answer (kept while asking again). */
  readonly ids: readonly string[];
  /** Why the last ask failed, while `failed`. */
  readonly message: string | null;
}

/** What changes a server's list. */
export type ModelListAction =
  | { readonly type: 'asked' }
  | { readonly type: 'listed'; readonly ids: readonly string[] }
  | { readonly type: 'failed'; readonly message: string };

/** Applies one action. Pure. */
export function reduceModelList(list: ModelList | undefined, action: ModelListAction): ModelList {
  const ids = list?.ids ?? [];
  switch (action.type) {
    case 'asked':
      return { state: 'asking', ids, message: null };
    case 'listed':
      return { state: 'listed', ids: action.ids, message: null };
    case 'failed':
      return { state: 'failed', ids, message: action.message };
    default: {
      const never: never = action;
      throw new TypeError(`unknown model list action ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Whether a model prompt opening on this server asks its `/v1/models`: not while an ask runs or after one answered,
 * nor when the dashboard already polls it (a server without a feed).
 */
export function shouldAsk(list: ModelList | undefined, server: ServerState | undefined): boolean {
  if (server?.feed.state === 'unsupported') return false;
  return list === undefined || list.state === 'failed';
}

/** What a model prompt offers: the ids, and how asking for them went. */
export interface ModelChoices {
  /** Sorted, without repeats. */
  readonly ids: readonly string[];
  readonly state: 'asking' | 'listed' | 'failed';
  readonly message: string | null;
}

/**
 * The ids a server offers: those its `/v1/models` answered and those the server view knows from its feed or polls
 * (a model that failed to load left out).
 */
export function modelChoices(list: ModelList | undefined, server: ServerState | undefined): ModelChoices {
  const known = Object.values(server?.rows ?? {})
    .filter((row) => row.state !== 'failed')
    .map((row) => row.model);
  const ids = [...new Set([...(list?.ids ?? []), ...known])].sort();
  if (list !== undefined) return { ids, state: list.state, message: list.message };
  if (server?.pollFailure) return { ids, state: 'failed', message: server.pollFailure.message };
  return { ids, state: server?.feed.state === 'unsupported' ? 'listed' : 'asking', message: null };
}
