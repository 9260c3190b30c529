/**
 * The disk without memory: `POST /pull_model` brings a model's files into the cache with the same stages and
 * progress as `/load_model` and ends without loading it; `GET /cache` lists the cache's repositories, revisions and
 * sizes; `POST /delete_model` deletes one revision from the cache as huggingface_hub's `hf cache` does, refused while
 * the repository is resident or loading.
 */

import type { FastifyInstance } from 'fastify';
import { systemClock } from '../common/clock.js';
import { serializeLoadEvent, type LoadEvent } from '../protocol/events.js';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import { sendError } from './error-reply.js';
import { cacheInventory, deleteCachedRevision } from './fetch/cache-inventory.js';
import { errorEvent } from './load-life.js';
import type { LoadManager } from './load-manager.js';
import type { LoadOptions, ModelLoader } from './loader-types.js';
import { createProgressCoalescer } from './progress-coalescer.js';
import { openSseStream } from './sse-stream.js';

/** Options of {@link registerCacheRoutes}. */
export interface CacheRoutesOptions {
  readonly manager: LoadManager;
  readonly loader: ModelLoader | undefined;
  readonly heartbeatMs: number;
  /** The body's `dtype` as a load's options, or the problem with it. */
  readonly dtypeOf: (body: unknown) => { ok: true; value: LoadOptions } | { ok: false; problem: string };
}

/** Registers `POST /pull_model`, `GET /cache` and `POST /delete_model`. */
export function registerCacheRoutes(app: FastifyInstance, options: CacheRoutesOptions): void {
  const { manager, loader } = options;
  // Pulls under way end with the server: their partial files stay, and the next pull or load resumes them.
  const closing = new AbortController();
  app.addHook('onClose', async () => closing.abort());

  app.post('/pull_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const dtype = options.dtypeOf(request.body);
    if (!dtype.ok) return sendError(reply, 'INVALID_DTYPE', dtype.problem, 'dtype');
    if (loader?.pull === undefined) return sendError(reply, 'NOT_FOUND', 'this server has no disk cache to pull into');
    const { ref } = checked;
    const stream = openSseStream(reply, { heartbeatMs: options.heartbeatMs });
    const send = (event: LoadEvent): void => stream.send(serializeLoadEvent(event));
    const coalescer = createProgressCoalescer({ model: ref.key, intervalMs: 100, clock: systemClock, emit: send });
    try {
      const pulled = await loader.pull(ref, (event) => coalescer.push(event), closing.signal, dtype.value);
      coalescer.flush();
      send({ status: 'ready', model: ref.key, cached: false, size_bytes: pulled.weightBytes, dtype: pulled.dtype });
    } catch (error) {
      coalescer.flush();
      send(errorEvent(ref, error, (bug) => request.log.error(bug)));
    } finally {
      coalescer.stop();
      stream.end();
    }
    return reply;
  });

  app.get('/cache', async (_request, reply) => {
    if (loader?.cacheDir === undefined) return { object: 'list', data: [] };
    const repos = await cacheInventory(loader.cacheDir);
    const inMemory = new Set(manager.residentRefs().map((ref) => ref.key));
    const loading = new Set(manager.loadingRefs().map((ref) => ref.key));
    const data = repos.map((repo) => ({
      ...repo,
      revisions: repo.revisions.map((revision) => ({
        ...revision,
        state: revision.refs.some((name) => inMemory.has(`${repo.id}@${name}`))
          ? 'resident'
          : revision.refs.some((name) => loading.has(`${repo.id}@${name}`))
            ? 'loading'
            : 'cached',
      })),
    }));
    return reply.send({ object: 'list', data });
  });

  app.post('/delete_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { ref } = checked;
    const busy = [...manager.residentRefs(), ...manager.loadingRefs()].find((other) => other.id === ref.id);
    if (busy !== undefined) {
      return sendError(
        reply,
        'MODEL_IN_USE',
        `${busy.key} is in memory or loading; its files stay until it is unloaded (POST /unload_model), then ask again`,
      );
    }
    const deleted = loader?.cacheDir === undefined ? undefined : await deleteCachedRevision(loader.cacheDir, ref);
    if (deleted === undefined) {
      return sendError(
        reply,
        'MODEL_NOT_CACHED',
        `the cache has no snapshot of ${ref.key} (GET /cache lists what it has)`,
      );
    }
    return { status: 'deleted', model: ref.key, ...deleted };
  });
}
