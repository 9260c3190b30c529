/**
 * A body over the size limit is refused with a 413 as soon as its size is known, but a client that writes its whole
 * body before it reads (Python's `http.client`, many SDKs) would meet a closed socket and never see the 413. So the
 * rest of such a body is read and discarded first, for a bounded time and size; past either bound the connection is
 * closed as before.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';

/** How much of a refused body is read before the 413 goes out. */
export interface DrainLimits {
  /** Bytes read at most, in all. */
  readonly maxBytes: number;
  /** Milliseconds spent reading at most. */
  readonly maxMs: number;
}

/** 16 MiB or 5 s, whichever comes first. */
export const DEFAULT_DRAIN_LIMITS: DrainLimits = { maxBytes: 16 * 1024 * 1024, maxMs: 5000 };

/** Reads the rest of `request`'s body, discarding it, until it ends or a bound of `limits` is reached. */
function drain(request: FastifyRequest, limits: DrainLimits): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (): void => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', finish);
      raw.off('close', finish);
      raw.off('error', finish);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) finish();
    };
    const timer = setTimeout(finish, limits.maxMs);
    raw.on('data', onData);
    raw.once('end', finish);
    raw.once('close', finish);
    raw.once('error', finish);
    raw.resume();
  });
}

/** Drains oversized bodies before their 413 (Fastify's `FST_ERR_CTP_BODY_TOO_LARGE`). */
export function drainRefusedBodies(app: FastifyInstance, limits: DrainLimits = DEFAULT_DRAIN_LIMITS): void {
  app.addHook('onError', async (request, _reply, error: Error & { code?: string }) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') await drain(request, limits);
  });
}
