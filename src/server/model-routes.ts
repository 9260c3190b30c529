import type { FastifyInstance } from 'fastify';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import { sendError } from './error-reply.js';
import type { FeedModel } from '../protocol/feed.js';
import type { LoadManager } from './load-manager.js';

/** Where a listed model is: in memory, being loaded, or only on disk. */
export type ModelLocation = 'loaded' | 'loading' | 'cached';

/**
 * One entry of `GET /v1/models`: OpenAI's model object plus where the model is, and for a resident model the size
 * of its weights, its idle time and the requests it serves; for a load, its stage, progress and subscribers.
 */
export interface ModelEntry extends Omit<FeedModel, 'model' | 'state'> {
  readonly id: string;
  readonly object: 'model';
  /** Unix seconds; 0 because the hub's creation date is not known here. */
  readonly created: number;
  readonly owned_by: string;
  readonly status: ModelLocation;
}

const LOCATION: Readonly<Record<FeedModel['state'], ModelLocation>> = {
  resident: 'loaded',
  loading: 'loading',
  cached: 'cached',
};

/** `GET /v1/models`, `POST /unload_model`, `POST /reset`. */
export function registerModelRoutes(app: FastifyInstance, manager: LoadManager): void {
  app.get('/v1/models', async () => {
    const cached = await manager.cachedRefs();
    const seen = new Map<string, ModelEntry>();
    const add = ({ model, state, ...details }: FeedModel): void => {
      if (seen.has(model)) return;
      const id = model.replace(/@[^@]*$/, '');
      const owner = id.split('/')[0] ?? id;
      seen.set(model, { id: model, object: 'model', created: 0, owned_by: owner, status: LOCATION[state], ...details });
    };
    for (const model of manager.models()) add(model);
    for (const ref of cached) add({ model: ref.key, state: 'cached' });
    return { object: 'list', data: [...seen.values()] };
  });

  app.post('/unload_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { key } = checked.ref;
    const force = forceOf(request.body);
    if (force === undefined) return sendError(reply, 'INVALID_REQUEST', FORCE_MESSAGE, 'force');
    // A model still loading is cancelled: its subscribers get a CANCELLED error event (a disconnect never cancels).
    if (manager.cancel(key)) return { status: 'cancelled', model: key };
    const busy = busyModels(manager, [key]);
    if (busy.length > 0 && !force) return sendError(reply, 'MODEL_IN_USE', inUseMessage(busy));
    if (!(await manager.unload(key))) {
      return sendError(reply, 'MODEL_NOT_LOADED', `${key} is not loaded (GET /v1/models lists what is)`);
    }
    return { status: 'unloaded', model: key };
  });

  // Upstream `transformers serve` names its unload-everything route /reset.
  app.post('/reset', async (request, reply) => {
    const force = forceOf(request.body);
    if (force === undefined) return sendError(reply, 'INVALID_REQUEST', FORCE_MESSAGE, 'force');
    const busy = busyModels(manager);
    if (busy.length > 0 && !force) return sendError(reply, 'MODEL_IN_USE', inUseMessage(busy));
    const refs = await manager.unloadAll();
    return { status: 'ok', unloaded: refs.map((r) => r.key) };
  });
}

const FORCE_MESSAGE = 'field "force" must be true or false';

/** The body's `force`: false when absent (or no body), undefined when it is not a boolean. */
function forceOf(body: unknown): boolean | undefined {
  if (typeof body !== 'object' || body === null) return false;
  const force = (body as Record<string, unknown>)['force'];
  if (force === undefined) return false;
  return typeof force === 'boolean' ? force : undefined;
}

/** Resident models (of `keys`, or all) serving chat requests right now, with how many. */
function busyModels(manager: LoadManager, keys?: readonly string[]): { model: string; requests: number }[] {
  return manager
    .models()
    .filter((m) => m.state === 'resident' && (m.active_requests ?? 0) > 0 && (keys?.includes(m.model) ?? true))
    .map((m) => ({ model: m.model, requests: m.active_requests ?? 0 }));
}

function inUseMessage(busy: readonly { model: string; requests: number }[]): string {
  const list = busy.map((b) => `${b.model} (${b.requests} chat request${b.requests === 1 ? '' : 's'})`).join(', ');
  return (
    `not unloaded: ${list} ${busy.length === 1 ? 'is' : 'are'} answering other clients; retry when done, or send ` +
    '{"force": true} to cut those replies short'
  );
}
