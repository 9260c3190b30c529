import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { encodeSseComment, encodeSseEvent, encodeSseRetry } from '../protocol/sse.js';
import { createStreamBacklog, type StreamBacklog } from './stream-backlog.js';
import { createWriteSlicer, type SlicedWriter } from './write-slices.js';

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
 * Writes to sockets in one turn of the event loop before the rest wait for the next (`write-slices.ts`). 256 writes
 * take about 1–3 ms on a quiet host (a frame to 11,000 sockets took 56 ms in one loop), so `/health` waits about that
 * long behind a feed event for ten thousand watchers. 1,024 was tried: on a loaded host its turns were preempted for
 * longer (longest event-loop block 339 ms at 10,000 watchers, against 107–112 ms with 256), though a load's 1,000
 * subscribers then got a frame in one turn (see the README's fan-out notes).
 */
export const SSE_WRITES_PER_TURN = 256;

/** The slicer every event stream of the process shares: one batch a turn in all. */
const slicer = createWriteSlicer({
  batch: SSE_WRITES_PER_TURN,
  // A stream that throws on a write handed back is broken: its connection is closed (its watcher and subscriber go).
  onError: (_error, writer) => (writer as EventStream).destroy(),
});

/**
 * Resolves once no frame or end of any event stream of the process waits for a later turn, or after `limitMs`. The
 * server's close waits for it before it cuts the connections: a close that aborts hundreds of loads at once sends
 * their `ABORTED` frames and ends in slices, and cutting them before would lose those past the first batch.
 */
export async function streamWritesOut(limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (slicer.waiting() > 0 && performance.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
}

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
 *
 * Writes go out in slices of {@link SSE_WRITES_PER_TURN} a turn (`write-slices.ts`), a stream's frames always in the
 * order they were sent; the frames of the turn a stream opens in (its snapshot, a replay) go out at once. The end of a
 * stream goes out in a later turn, after the frames that other streams were sent until then.
 */
export function openSseStream(reply: FastifyReply, options: SseStreamOptions): SseStream {
  reply.hijack();
  const res = reply.raw;
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
  const stream = new EventStream(res, options.heartbeatMs);
  if (options.retryMs !== undefined) stream.sendFrame(encodeSseRetry(options.retryMs));
  return stream;
}

/** Fires a stream's keep-alive timer (a shared function: the timer carries the stream as its argument). */
function beat(stream: EventStream): void {
  stream.beat();
}

/**
 * One event stream: one object whose methods are shared on its prototype, rather than a factory's closures. A feed
 * holds one per watcher, and at ten thousand watchers the closures (about seventeen a stream with the backlog's, and
 * their contexts) were 1.2 KB a watcher, a sixth of its cost (heap snapshot of the feed-scale benchmark's server).
 */
class EventStream implements SseStream, SlicedWriter {
  private readonly res: ServerResponse;
  private readonly backlog: StreamBacklog;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | undefined = undefined;
  private isClosed = false;
  /** Disconnect callbacks: none, one, or several (most streams have exactly one). */
  private gone: (() => void) | (() => void)[] | undefined = undefined;
  /** True once the disconnect callbacks ran or the response finished: later ones run at once, or never. */
  private settled = false;
  /** Frames (and the end) of this stream waiting in the slicer. */
  private sliced = 0;

  constructor(res: ServerResponse, heartbeatMs: number) {
    this.res = res;
    this.heartbeatMs = heartbeatMs;
    this.backlog = createStreamBacklog(res, SSE_WRITE_BUDGET_BYTES);
    res.on('close', this.onClose.bind(this));
    this.arm();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  send(data: string): void {
    this.sendFrame(encodeSseEvent({ data }));
  }

  comment(text: string): void {
    this.sendFrame(encodeSseComment(text));
  }

  sendFrame(frame: string): void {
    if (this.isClosed || this.res.destroyed) return;
    // Behind its own waiting frames, or past this turn's batch: later. The opening turn's frames go now (the backlog
    // counts them as the start of the stream only in that turn, and nothing of this stream waits before them).
    if (this.sliced > 0 || !(this.backlog.opening() || slicer.take())) {
      this.sliced += 1;
      slicer.defer(this, frame);
      return;
    }
    this.write(frame);
  }

  end(): void {
    if (this.isClosed) return;
    this.stop();
    // Always in a later turn, once the frames queued so far went out (`write-slices.ts`): when a load ends, its ready
    // frame reaches every subscriber before the first connection starts closing.
    this.sliced += 1;
    slicer.defer(this, undefined);
  }

  onDisconnect(fn: () => void): void {
    if (this.settled) {
      if (!this.res.writableFinished) fn();
    } else if (this.gone === undefined) this.gone = fn;
    else if (typeof this.gone === 'function') this.gone = [this.gone, fn];
    else this.gone.push(fn);
  }

  writeSliced(frame: string | undefined): void {
    this.sliced -= 1;
    if (frame === undefined) return this.finish();
    // Sent before the stream ended, so it goes out before the end; after a disconnect the backlog writes nothing.
    this.write(frame);
  }

  /** The keep-alive timer fired. */
  beat(): void {
    if (this.isClosed) return;
    // A stream with frames waiting is not idle: it needs no keep-alive, and none is queued behind them.
    if (this.backlog.backedUp() || this.sliced > 0) this.heartbeat?.refresh();
    else this.sendFrame(encodeSseComment('keep-alive'));
  }

  /** Closes the connection at once (a write threw). */
  destroy(): void {
    this.res.destroy();
  }

  private write(frame: string): void {
    if (this.res.destroyed) return;
    if (!this.backlog.write(frame)) return this.drop();
    this.arm();
  }

  /** Frames still waiting go out before the end. */
  private finish(): void {
    // A stream dropped while its end waited was ended by the drop.
    if (this.res.destroyed || this.res.writableEnded) return;
    const rest = this.backlog.takeAll();
    this.res.end(rest === '' ? undefined : rest);
  }

  private arm(): void {
    if (this.heartbeatMs <= 0 || this.isClosed) return;
    if (this.heartbeat) this.heartbeat.refresh();
    else this.heartbeat = setTimeout(beat, this.heartbeatMs, this);
  }

  private stop(): void {
    this.isClosed = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.heartbeat = undefined;
  }

  private onClose(): void {
    if (!this.res.writableFinished) return this.disconnected();
    this.settled = true;
    this.gone = undefined;
    this.stop();
  }

  private disconnected(): void {
    const callbacks = this.gone;
    this.gone = undefined;
    this.settled = true;
    this.stop();
    this.backlog.clear();
    if (typeof callbacks === 'function') callbacks();
    else for (const fn of callbacks ?? []) fn();
  }

  private drop(): void {
    this.disconnected();
    // The connection ends with the response: a client that reads to here reconnects on a fresh one.
    const res = this.res;
    const socket = res.socket;
    res.once('finish', () => socket?.end());
    res.end(encodeSseComment(DROPPED));
    const linger = setTimeout(() => res.destroy(), DROP_LINGER_MS);
    linger.unref();
    res.once('close', () => clearTimeout(linger));
  }
}
