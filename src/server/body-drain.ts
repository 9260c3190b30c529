/**
 * A body over the size limit is refused with a 413 as soon as its size is known, but a client that writes its whole
 * body before it reads (Python's `http.client`, many SDKs) would meet a closed socket and never see the 413. So the
 * rest of such a body is read and discarded first, for a bounded time and size; past either bound the 413 goes out and
 * the connection is closed with a lingering close (below).
 *
 * A socket closed while the client's bytes still arrive answers them with a TCP reset, and a reset makes the client's
 * kernel drop what it has received and not yet handed over: the 413 itself, sometimes. So a connection whose body was
 * not read to its end sends its response and its FIN, then reads and discards for up to {@link LINGER_MS} more (or
 * until the client closes its side), and only then closes, as Apache's and nginx's lingering close do.
 */

import type { Socket } from 'node:net';
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

/** How long a connection reads on after its response when the body was not read to its end (milliseconds). */
const LINGER_MS = 2000;

/**
 * Reads the rest of `request`'s body, discarding it, until it ends or a bound of `limits` is reached. Resolves
 * `true` when the body was read to its end.
 */
function drain(request: FastifyRequest, limits: DrainLimits): Promise<boolean> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return Promise.resolve(raw.complete);
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (): void => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', finish);
      raw.off('close', finish);
      raw.off('error', finish);
      resolve(raw.complete);
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
    if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return;
    if (!(await drain(request, limits))) lingerOnClose(request.raw.socket);
  });
}

/**
 * Makes the close that Node's HTTP server does after a `Connection: close` response (`socket.destroySoon()`) a
 * lingering one: the FIN goes out after the response, what the client still sends is read and dropped, and the socket
 * is destroyed when the client ends its side or after {@link LINGER_MS}.
 */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}
