import type { FastifyInstance, FastifyReply } from 'fastify';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import { sendError } from './error-reply.js';
import type { FeedModel } from '../protocol/feed.js';
import type { LoadManager } from './load-manager.js';
import type { WorkTracker } from './work-tracker.js';

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

/** `GET /v1/models`, `POST /unload_model`, `POST /reset`. Listing reads the tables: it never counts as use. */
export function registerModelRoutes(
  app: FastifyInstance,
  manager: LoadManager,
  work: WorkTracker,
  waitMs: number = UNLOAD_WAIT_MS,
): void {
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
    return { object: 'list', data: [...seen.values()], pulls: manager.pulls(), memory: memoryOf(manager) };
  });

  app.post('/unload_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { key } = checked.ref;
    const force = forceOf(request.body);
    if (typeof force === 'string') return sendError(reply, 'INVALID_REQUEST', force, 'force');
    // A model still loading (or being pulled) is cancelled: its subscribers get a CANCELLED error event (a disconnect
    // never cancels).
    if (manager.cancel(key)) return { status: 'cancelled', model: key };
    const done = await whenIdle(work, key, waitMs, force, () => manager.unload(key));
    if (done === undefined) return busy(reply, work.running(key), key, waitMs);
    if (!done.value) return sendError(reply, 'MODEL_NOT_LOADED', `${key} is not loaded (GET /v1/models lists what is)`);
    return { status: 'unloaded', model: key };
  });

  // Upstream `transformers serve` names its unload-everything route /reset. Loads under way are cancelled too: a reset
  // leaves nothing in memory and nothing on its way there.
  app.post('/reset', async (request, reply) => {
    const force = forceOf(request.body);
    if (typeof force === 'string') return sendError(reply, 'INVALID_REQUEST', force, 'force');
    const done = await whenIdle(work, undefined, waitMs, force, () => manager.unloadAll());
    if (done === undefined) return busy(reply, work.running(), 'the server', waitMs);
    const { unloaded, cancelled } = done.value;
    return { status: 'ok', unloaded: unloaded.map((r) => r.key), cancelled: cancelled.map((r) => r.key) };
  });
}

/**
 * `POST /load_model` with `keep_alive: 0` (Ollama's semantics for a request with nothing to generate): the model is
 * unloaded if it is resident, as `/unload_model` unloads it (its replies under way get `waitMs` to end, `force` cuts
 * them), with reason `keep_alive`, and nothing is loaded. The answer is JSON, not an event stream: `unloaded`, or
 * `not_loaded` when it was not in memory; a load under way is left to the clients waiting for it (409 `MODEL_IN_USE`,
 * saying how to cancel it).
 */
export async function unloadForKeepAliveZero(
  reply: FastifyReply,
  manager: LoadManager,
  work: WorkTracker,
  options: { readonly key: string; readonly force: boolean; readonly waitMs?: number | undefined },
): Promise<FastifyReply> {
  const { key, force, waitMs = UNLOAD_WAIT_MS } = options;
  if (manager.loadingRefs().some((ref) => ref.key === key)) {
    return sendError(
      reply,
      'MODEL_IN_USE',
      `${key} is loading; "keep_alive": 0 unloads only a resident model and nothing was changed: cancel the load ` +
        'with POST /unload_model, or send "keep_alive": 0 again once it is ready',
    );
  }
  const done = await whenIdle(work, key, waitMs, force, () => manager.unload(key, 'keep_alive'));
  if (done === undefined) return busy(reply, work.running(key), key, waitMs);
  return reply.send({ status: done.value ? 'unloaded' : 'not_loaded', model: key });
}

/**
 * Starts `unload` once no reply runs on `key` (on any model when undefined) and resolves with its result, or with
 * undefined when replies still run after `waitMs`; `force` starts it at once. The last check and the start of
 * `unload` (the manager takes a model out of its table synchronously, when the unload starts) run in one turn of the
 * event loop, so no chat takes hold of the model in between: one that holds it is waited for, one that comes after
 * finds it gone and loads it anew.
 */
async function whenIdle<T>(
  work: WorkTracker,
  key: string | undefined,
  waitMs: number,
  force: boolean,
  unload: () => Promise<T>,
): Promise<{ readonly value: T } | undefined> {
  const deadline = Date.now() + waitMs;
  // A hold taken while `idle` resolved is seen here: wait again, within the same deadline.
  while (!force && work.running(key) > 0) {
    if (!(await work.idle(key, Math.max(0, deadline - Date.now())))) return undefined;
  }
  return { value: await unload() };
}

/**
 * The server's memory as `GET /v1/models` and the feed's snapshot show it: the process's resident set, the resident
 * models' weights, and the `--max-memory` budget (null: none).
 */
export function memoryOf(manager: Pick<LoadManager, 'memory'>): {
  readonly rss_bytes: number;
  readonly weights_bytes: number;
  readonly budget_bytes: number | null;
} {
  return { rss_bytes: process.memoryUsage.rss(), ...manager.memory() };
}

/** How long `/unload_model` and `/reset` wait for the replies under way before answering 409 (default). */
export const UNLOAD_WAIT_MS = 10_000;

/** The body's `force`: true or false, or the message of a bad one. */
function forceOf(body: unknown): boolean | string {
  const force = typeof body === 'object' && body !== null ? (body as { force?: unknown }).force : undefined;
  if (force === undefined || force === null) return false;
  if (typeof force !== 'boolean') return `'force' must be true or false, got ${JSON.stringify(force)}`;
  return force;
}

function busy(reply: FastifyReply, running: number, what: string, waitMs: number): FastifyReply {
  return sendError(
    reply,
    'MODEL_BUSY',
    `${what} still has ${running} ${running === 1 ? 'reply' : 'replies'} under way after ${waitMs / 1000} s: ` +
      'retry when they are done, or send {"force": true} to unload now and cut them',
  );
}
