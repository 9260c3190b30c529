import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { encodeSseComment, encodeSseEvent, encodeSseRetry } from '../protocol/sse.js';
import { createStreamBacklog } from './stream-backlog.js';

/** An open Server-Sent Events response. The only place in the server that writes SSE frames to a socket. */
export interface SseStream {
  /** Writes one `data:` frame. Ignored once the stream is closed. */
  send(data: string): void;
  /** Writes a frame encoded already (by `protocol/sse.ts`; one encoding shared by many streams). */
  sendFrame(frame: string): void;
  /** Writes an SSE comment line (clients that read only `data:` lines ignore it). */
  comment(text: string): void;
  /** Ends the response. Idempotent. */
  end(): void;
  /** True once the client went away or {@link SseStream.end} was called. */
  readonly closed: boolean;
  /**
   * Calls `fn` once when the client disconnects before the stream ended (at once if it already has). A plain callback,
   * not an `AbortSignal`: a feed holds one stream per watcher, and a signal weighs more than the rest of the stream.
   */
  onDisconnect(fn: () => void): void;
}

/** Options of {@link openSseStream}. */
export interface SseStreamOptions {
  /** Sends `: keep-alive` after this many milliseconds without a frame; 0 disables. */
  readonly heartbeatMs: number;
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** When set, the stream starts with `retry: <ms>`, the client's reconnection delay. */
  readonly retryMs?: number;
}

/**
 * 1 MiB: the bytes a stream may have waiting in the server for a client that does not read before it is dropped.
 * They come on top of the socket's kernel buffers (about 4 MB on Linux loopback), so a client that reads, however
 * slowly, is only dropped once it is megabytes behind.
 */
export const SSE_WRITE_BUDGET_BYTES = 1024 * 1024;

/** The last frame of a dropped stream, a comment (clients that read only `data:` lines skip it). */
const DROPPED = `dropped: client not reading (over ${SSE_WRITE_BUDGET_BYTES / (1024 * 1024)} MiB buffered)`;

/**
 * How long a dropped stream's connection is kept for its last frames and the comment that says why to reach a client
 * that resumes reading (a dashboard brought back from Ctrl-Z); after it, the socket is destroyed.
 */
const DROP_LINGER_MS = 10_000;

/**
 * Takes over `reply` and starts an event stream: status 200, `text/event-stream`, headers flushed at once so the
 * client knows the request was accepted before the first event.
 *
 * Writes respect backpressure (`stream-backlog.ts`): while the socket takes no more, frames wait in a queue of
 * references. When what waits passes the write budget, the client is not reading and the stream is dropped: its queue
 * is let go, its `onDisconnect` callbacks run (the feed stops writing to it, a load's subscriber unsubscribes; the
 * load goes on), and the response ends with the comment `: dropped: client not reading (over 1 MiB buffered)` after
 * what the socket holds already. A client that reads to there finds the connection closed and reconnects; the
 * connection of one that does not is destroyed {@link DROP_LINGER_MS} later.
 */
export function openSseStream(reply: FastifyReply, options: SseStreamOptions): SseStream {
  reply.hijack();
  const res = reply.raw;
  const backlog = createStreamBacklog(res, SSE_WRITE_BUDGET_BYTES);
  let gone: (() => void)[] | undefined = [];
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;

  res.writeHead(200, {
    // What the hooks set on the reply (its X-Request-ID): a hijacked reply does not send them by itself.
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // No `Connection` header of its own: Node answers the client's (`close` closes the connection at the end).
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
    ...options.headers,
  });
  res.flushHeaders();
  if (options.retryMs !== undefined) backlog.write(encodeSseRetry(options.retryMs));

  const stop = (): void => {
    closed = true;
    if (heartbeat) clearTimeout(heartbeat);
    heartbeat = undefined;
  };

  const disconnected = (): void => {
    const callbacks = gone;
    gone = undefined;
    stop();
    backlog.clear();
    for (const fn of callbacks ?? []) fn();
  };

  const drop = (): void => {
    disconnected();
    // The connection ends with the response: a client that reads to here reconnects on a fresh one.
    const socket = res.socket;
    res.once('finish', () => socket?.end());
    res.end(encodeSseComment(DROPPED));
    const linger = setTimeout(() => res.destroy(), DROP_LINGER_MS);
    linger.unref();
    res.once('close', () => clearTimeout(linger));
  };

  const write = (frame: string): void => {
    if (closed || res.destroyed) return;
    if (!backlog.write(frame)) return drop();
    arm();
  };

  const arm = (): void => {
    if (options.heartbeatMs <= 0 || closed) return;
    if (heartbeat) {
      heartbeat.refresh();
      return;
    }
    heartbeat = setTimeout(function beat() {
      if (closed) return;
      heartbeat = setTimeout(beat, options.heartbeatMs);
      // A stream with frames waiting is not idle: it needs no keep-alive, and none is queued behind them.
      if (!backlog.backedUp()) write(encodeSseComment('keep-alive'));
    }, options.heartbeatMs);
  };

  res.on('close', () => {
    if (!res.writableFinished) return disconnected();
    gone = undefined;
    stop();
  });
  arm();

  return {
    send: (data) => write(encodeSseEvent({ data })),
    sendFrame: write,
    comment: (text) => write(encodeSseComment(text)),
    end() {
      if (closed) return;
      stop();
      // Frames still waiting go out before the end.
      const rest = backlog.takeAll();
      res.end(rest === '' ? undefined : rest);
    },
    get closed() {
      return closed;
    },
    onDisconnect(fn) {
      if (gone !== undefined) gone.push(fn);
      else if (!res.writableFinished) fn();
    },
  };
}
