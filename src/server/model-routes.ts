import type { FastifyInstance } from 'fastify';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import { sendError } from './error-reply.js';
import type { LoadManager } from './load-manager.js';

/** Where a listed model is: in memory, being loaded, or only on disk. */
export type ModelLocation = 'loaded' | 'loading' | 'cached';

/** One entry of `GET /v1/models`: OpenAI's model object plus where the model is. */
export interface ModelEntry {
  readonly id: string;
  readonly object: 'model';
  /** Unix seconds; 0 because the hub's creation date is not known here. */
  readonly created: number;
  readonly owned_by: string;
  readonly status: ModelLocation;
}

/** `GET /v1/models`, `POST /unload_model`, `POST /reset`. */
export function registerModelRoutes(app: FastifyInstance, manager: LoadManager): void {
  app.get('/v1/models', async () => {
    const seen = new Map<string, ModelEntry>();
    const add = (key: string, id: string, status: ModelLocation): void => {
      if (seen.has(key)) return;
      seen.set(key, { id: key, object: 'model', created: 0, owned_by: id.split('/')[0] ?? id, status });
    };
    for (const ref of manager.residentRefs()) add(ref.key, ref.id, 'loaded');
    for (const ref of manager.loadingRefs()) add(ref.key, ref.id, 'loading');
    for (const ref of await manager.cachedRefs()) add(ref.key, ref.id, 'cached');
    return { object: 'list', data: [...seen.values()] };
  });

  app.post('/unload_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { key } = checked.ref;
    if (!(await manager.unload(key))) {
      return sendError(reply, 'MODEL_NOT_LOADED', `${key} is not loaded (GET /v1/models lists what is)`);
    }
    return { status: 'unloaded', model: key };
  });

  // Upstream `transformers serve` names its unload-everything route /reset.
  app.post('/reset', async () => {
    const refs = await manager.unloadAll();
    return { status: 'ok', unloaded: refs.map((r) => r.key) };
  });
}
