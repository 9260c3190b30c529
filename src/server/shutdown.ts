/**
 * The server's way out (`app.close()`, which SIGINT and SIGTERM call): it stops accepting connections and answers
 * any further request with 503 `ABORTED`; aborts running loads, so every open `/load_model` stream gets its `ABORTED`
 * error event and every chat waiting for a model a 503 `ABORTED` in OpenAI's shape; lets the generations under way
 * finish for up to the grace period; then unloads every model (a reply still running ends with an error frame), waits
 * (2 s at most) for the event streams' frames and ends still waiting for a turn (`write-slices.ts`), and closes the
 * remaining connections. All of it before Fastify cuts the connections, so every client gets its answer.
 */

import type { FastifyInstance } from 'fastify';
import { sendError } from './error-reply.js';
import type { LoadManager } from './load-manager.js';
import { streamWritesOut } from './sse-stream.js';
import type { WorkTracker } from './work-tracker.js';

/** 10 s: how long replies under way get to finish when the server stops (`serve --shutdown-timeout`). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/** How long the close waits at most for the event streams' last frames and ends to leave (`sse-stream.ts`). */
const STREAM_WRITES_LIMIT_MS = 2_000;

/** Installs the shutdown of `app`; `manager` is the manager itself, `tracker` counts its generations. */
export function closeGracefully(
  app: FastifyInstance,
  manager: LoadManager,
  tracker: WorkTracker,
  graceMs: number = DEFAULT_SHUTDOWN_GRACE_MS,
): void {
  let stopping = false;
  app.addHook('onRequest', async (_request, reply) => {
    if (!stopping) return undefined;
    reply.header('connection', 'close');
    return sendError(reply, 'ABORTED', 'the server is shutting down: retry once it is back, or on another server');
  });
  app.addHook('preClose', async () => {
    stopping = true;
    // No new connections (Fastify closes the server again afterwards, which it tolerates).
    if (app.server.listening) app.server.close();
    app.server.closeIdleConnections();
    await manager.close(async () => {
      if (!(await tracker.idle(undefined, graceMs))) {
        app.log.warn({ generations: tracker.running() }, 'shutting down: replies still running are cut');
      }
    });
    // The streams' last frames and ends go out in slices when there are many: all of them before the cut.
    await streamWritesOut(STREAM_WRITES_LIMIT_MS);
  });
}
