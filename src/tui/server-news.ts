/**
 * What a server's feed frame or `/v1/models` poll says of its models, as the {@link ModelNews} its sessions follow
 * (`session-residency.ts`): an unload and why, a load starting again, a model resident with its unload countdown, a
 * restart (a new run in the feed's event ids), a list in which a model is no longer resident. Pure.
 */

import type { FeedModel, FeedUpdate } from '../client/feed-events.js';
import type { ListedModel } from '../client/model-admin.js';
import type { ServerKind } from '../client/server-kind.js';
import { UNLOAD_REASONS } from '../protocol/feed.js';
import type { ServerAction, ServerState } from './server-state.js';
import { runOf } from './server-state.js';
import type { ListedModelState, ModelNews } from './session-residency.js';
import type { UnloadCause } from './session-state.js';

/** The feed's unload reasons, which a session shows as they are. */
const CAUSES: ReadonlySet<string> = new Set(UNLOAD_REASONS);

/** What `action` tells the sessions of the server that was `before` it. */
export function serverNews(before: ServerState, action: ServerAction): ModelNews[] {
  switch (action.type) {
    case 'feed': {
      const run = runOf(action.id);
      const restarted = run !== null && before.run !== null && run !== before.run;
      // The snapshot describes the server as of the connection, which the feed's `live` status marks.
      const listedAt = before.feed.state === 'live' ? before.feed.since : action.at;
      const news = feedNews(action.update, action.extras ?? {}, restarted, listedAt);
      return restarted ? [{ kind: 'restarted' }, ...news] : news;
    }
    case 'polled':
      return pollNews(action.models, action.askedAt ?? action.at, action.kind);
    case 'feed-status':
    case 'facts':
    case 'poll-failed':
      // A lost server is shown as such (`session-pane.ts`); whether its models survived, its next answer says.
      return [];
    default: {
      const never: never = action;
      throw new TypeError(`unknown server action ${JSON.stringify(never)}`);
    }
  }
}

function feedNews(
  update: FeedUpdate,
  extras: NonNullable<Extract<ServerAction, { type: 'feed' }>['extras']>,
  restarted: boolean,
  listedAt: number,
): ModelNews[] {
  switch (update.type) {
    case 'snapshot':
      return [
        {
          kind: 'listed',
          listedAt,
          cause: restarted ? 'restart' : 'gone',
          models: Object.fromEntries(update.models.map((m) => [m.model, fromFeedModel(m, extras.expires?.[m.model])])),
        },
      ];
    case 'load': {
      const { event } = update;
      switch (event.status) {
        case 'loading':
          return [{ kind: 'loading', model: event.model, stage: event.stage, progress: event.progress ?? null }];
        case 'ready':
          return [
            {
              kind: 'resident',
              model: event.model,
              ...(extras.expiresInMs !== undefined ? { expiresInMs: extras.expiresInMs } : {}),
            },
          ];
        case 'error':
          return [{ kind: 'failed', model: event.model }];
        default: {
          const never: never = event;
          throw new TypeError(`unknown load event ${JSON.stringify(never)}`);
        }
      }
    }
    case 'unload':
      return [{ kind: 'unloaded', model: update.model, cause: causeOf(update.reason) }];
    case 'chat-start':
      // A model that generates is not idle: no unload is due until its replies end.
      return [{ kind: 'expiry', model: update.model, expiresInMs: null }];
    case 'chat-end':
      return extras.expiresInMs === undefined
        ? []
        : [{ kind: 'expiry', model: update.model, expiresInMs: extras.expiresInMs }];
    case 'expiry':
      // When the server will unload an idle model moved (a reply began or ended, a load request used it).
      return [{ kind: 'expiry', model: update.model, expiresInMs: update.expiresInMs }];
    case 'pull':
    case 'memory':
      // A pull puts files on the disk and nothing in memory; the memory figures name no model.
      return [];
    case 'other':
      // A frame of a kind this reader does not know may still carry a countdown.
      return extras.model !== undefined && extras.expiresInMs !== undefined
        ? [{ kind: 'expiry', model: extras.model, expiresInMs: extras.expiresInMs }]
        : [];
    default: {
      const never: never = update;
      throw new TypeError(`unknown feed update ${JSON.stringify(never)}`);
    }
  }
}

function fromFeedModel(m: FeedModel, expiresInMs: number | null | undefined): ListedModelState {
  switch (m.state) {
    case 'resident':
      return { state: 'resident', ...(expiresInMs !== undefined ? { expiresInMs } : {}) };
    case 'loading':
      return { state: 'loading', stage: m.stage, progress: m.progress };
    case 'on-disk':
    case 'unloaded':
    case 'failed':
      return { state: 'out' };
    default: {
      const never: never = m.state;
      throw new TypeError(`unknown residency ${String(never)}`);
    }
  }
}

/**
 * A poll's list, when the server says which models are in memory (a server whose list has no states, such as
 * `transformers serve`, tells nothing of residency; nor does one entry without a state). On Ollama a name without a
 * tag is `:latest`, which `/api/ps` writes out: the list answers for both spellings.
 */
function pollNews(models: readonly ListedModel[], listedAt: number, kind: ServerKind | undefined): ModelNews[] {
  if (!models.some((m) => m.state !== null)) return [];
  const listed: Record<string, ListedModelState> = {};
  for (const m of models) {
    let news: ListedModelState;
    if (m.state === 'resident') {
      news = { state: 'resident', ...(m.expiresInMs !== undefined ? { expiresInMs: m.expiresInMs } : {}) };
    } else if (m.state === 'loading') news = { state: 'loading', stage: m.stage ?? null, progress: null };
    else news = m.state === null ? { state: 'unknown' } : { state: 'out' };
    listed[m.id] = news;
    if (kind === 'ollama' && m.id.endsWith(':latest')) listed[m.id.slice(0, -':latest'.length)] = news;
  }
  return [{ kind: 'listed', listedAt, cause: 'gone', models: listed }];
}

function causeOf(reason: string): UnloadCause {
  return CAUSES.has(reason) ? (reason as UnloadCause) : 'gone';
}
