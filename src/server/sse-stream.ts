import type { FastifyReply } from 'fastify';
import { encodeSseComment, encodeSseEvent, encodeSseRetry } from '../protocol/sse.js';

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
 * Takes over `reply` and starts an event stream: status 200, `text/event-stream`, headers flushed at once so the
 * client knows the request was accepted before the first event.
 */
export function openSseStream(reply: FastifyReply, options: SseStreamOptions): SseStream {
  reply.hijack();
  const res = reply.raw;
  let gone: (() => void)[] | undefined = [];
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // No `Connection` header of its own: Node answers the client's (`close` closes the connection at the end).
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
    ...options.headers,
  });
  res.flushHeaders();
  if (options.retryMs !== undefined) res.write(encodeSseRetry(options.retryMs));

  const stop = (): void => {
    closed = true;
    if (heartbeat) clearTimeout(heartbeat);
    heartbeat = undefined;
  };

  const arm = (): void => {
    if (options.heartbeatMs <= 0 || closed) return;
    if (heartbeat) {
      heartbeat.refresh();
      return;
    }
    heartbeat = setTimeout(function beat() {
      if (closed) return;
      res.write(encodeSseComment('keep-alive'));
      heartbeat = setTimeout(beat, options.heartbeatMs);
    }, options.heartbeatMs);
  };

  res.on('close', () => {
    const callbacks = gone;
    gone = undefined;
    stop();
    if (!res.writableFinished) for (const fn of callbacks ?? []) fn();
  });
  arm();

  const write = (frame: string): void => {
    if (closed || res.destroyed) return;
    // A slow client buffers in its own socket; it never holds up the loader or the other subscribers, and frames
    // are coalesced upstream so the buffer stays small.
    res.write(frame);
    arm();
  };

  return {
    send: (data) => write(encodeSseEvent({ data })),
    sendFrame: write,
    comment: (text) => write(encodeSseComment(text)),
    end() {
      if (closed) return;
      stop();
      res.end();
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
