/**
 * The disk without memory: `POST /pull_model` brings a model's files into the cache with the same stages and
 * progress as `/load_model` and ends without loading it (one pull per model, run by the load manager: a `--max-loads`
 * slot, the feed, cancelled by `/unload_model`); `GET /cache` lists the cache's repositories, revisions and sizes;
 * `POST /delete_model` deletes one revision from the cache as huggingface_hub's `hf cache` does, refused while the
 * repository is resident, loading or pulling, and atomically so (the manager's claim: a load that comes during the
 * deletion waits for it).
 */

import type { FastifyInstance } from 'fastify';
import { isTerminal, serializeLoadEvent } from '../protocol/events.js';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import { sendError } from './error-reply.js';
import { cacheInventory, deleteCachedRevision } from './fetch/cache-inventory.js';
import type { LoadManager } from './load-manager.js';
import type { LoadOptions, ModelLoader } from './loader-types.js';
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

  app.post('/pull_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const dtype = options.dtypeOf(request.body);
    if (!dtype.ok) return sendError(reply, 'INVALID_DTYPE', dtype.problem, 'dtype');
    if (loader?.pull === undefined) return sendError(reply, 'NOT_FOUND', 'this server has no disk cache to pull into');
    const { ref } = checked;
    const conflict = manager.pullConflict(ref, dtype.value.dtype);
    if (conflict !== undefined) return sendError(reply, 'DTYPE_CONFLICT', conflict, 'dtype');
    const stream = openSseStream(reply, { heartbeatMs: options.heartbeatMs });
    const subscription = manager.pull(
      ref,
      (event) => {
        stream.send(serializeLoadEvent(event));
        if (isTerminal(event)) stream.end();
      },
      dtype.value,
    );
    // As a load: a client that leaves stops receiving, and the pull goes on (POST /unload_model cancels it).
    stream.onDisconnect(() => subscription.unsubscribe());
    if (stream.closed) subscription.unsubscribe();
    return reply;
  });

  app.get('/cache', async (_request, reply) => {
    if (loader?.cacheDir === undefined) return { object: 'list', data: [] };
    const repos = await cacheInventory(loader.cacheDir);
    const inMemory = new Set(manager.residentRefs().map((ref) => ref.key));
    const loading = new Set(manager.loadingRefs().map((ref) => ref.key));
    const pulling = new Set(manager.pullingRefs().map((ref) => ref.key));
    const data = repos.map((repo) => ({
      ...repo,
      revisions: repo.revisions.map((revision) => ({
        ...revision,
        state: revision.refs.some((name) => inMemory.has(`${repo.id}@${name}`))
          ? 'resident'
          : revision.refs.some((name) => loading.has(`${repo.id}@${name}`))
            ? 'loading'
            : revision.refs.some((name) => pulling.has(`${repo.id}@${name}`))
              ? 'pulling'
              : 'cached',
      })),
    }));
    return reply.send({ object: 'list', data });
  });

  app.post('/delete_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { ref } = checked;
    const cacheDir = loader?.cacheDir;
    // The check that nothing uses the repository and the claim that keeps new loads off it are one step.
    const claim = manager.deleteCached(ref, async () =>
      cacheDir === undefined ? undefined : deleteCachedRevision(cacheDir, ref),
    );
    if (claim.kind === 'busy') {
      const { by, state } = claim;
      const why =
        state === 'resident'
          ? 'is in memory, so its files stay: unload it (POST /unload_model)'
          : state === 'loading'
            ? 'is loading, so its files stay: let it finish and unload it, or cancel the load (POST /unload_model)'
            : 'is being pulled, so its files stay: let the pull end, or cancel it (POST /unload_model)';
      return sendError(reply, 'MODEL_IN_USE', `${by.key} ${why}, then ask again`);
    }
    const deleted = await claim.result;
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
