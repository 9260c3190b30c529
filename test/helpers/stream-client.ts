// Event-stream clients over raw sockets, for the server's write budgets: one that stops reading once its stream has
// begun and leaves everything in the kernel's buffers (as a suspended dashboard, Ctrl-Z, does), and may read on to the
// end later; and one that reads all the time.
import { connect, type Socket } from 'node:net';
import { createSseParser, type SseEvent } from '../../src/protocol/sse.js';

/** What a stream held. */
export interface StreamRead {
  readonly events: SseEvent[];
  /** Comment lines, without the colon. */
  readonly comments: string[];
  /** True when the response ended (its last chunk arrived), false when the connection was cut before or is open. */
  readonly complete: boolean;
  /** The `id:` of the last event that had one. */
  readonly lastId: string | undefined;
}

/** A client of one event stream. */
export interface StreamClient {
  readonly socket: Socket;
  /** Resolves once the client has stopped reading (at once for a client that never stops). */
  readonly stalled: Promise<void>;
  /** What arrived so far. */
  read(): StreamRead;
  /** Reads on (a stalled client resumes) until the connection closes, and returns it all; rejects after `ms`. */
  readAll(ms?: number): Promise<StreamRead>;
  /** True once the connection has closed. */
  readonly closed: boolean;
}

/**
 * Connects to 127.0.0.1:`port` and sends `request` (a whole HTTP/1.1 request). With `stallWhen`, reads until it holds
 * for the text received so far, then stops reading; without, reads everything as it comes.
 */
export function streamClient(port: number, request: string, stallWhen?: (text: string) => boolean): StreamClient {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  const keep = (chunk: Buffer): void => {
    chunks.push(chunk);
  };
  const stalled = new Promise<void>((resolve) => {
    if (stallWhen === undefined) {
      socket.on('data', keep);
      resolve();
      return;
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      if (!stallWhen(Buffer.concat(chunks).toString('utf8'))) return;
      socket.pause();
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  socket.once('connect', () => socket.write(request));
  return {
    socket,
    stalled,
    get closed() {
      return closed;
    },
    read: () => readStream(Buffer.concat(chunks)),
    async readAll(ms = 60_000) {
      await stalled;
      if (stallWhen !== undefined && !socket.listeners('data').includes(keep)) socket.on('data', keep);
      socket.resume();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the stream did not end within ${ms} ms`)), ms);
      });
      try {
        await Promise.race([ended, late]);
      } finally {
        clearTimeout(timer);
      }
      return readStream(Buffer.concat(chunks));
    },
  };
}

/** The events and comments of a raw HTTP/1.1 response with a chunked body. */
function readStream(raw: Buffer): StreamRead {
  const { body, complete } = dechunk(raw);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let lastId: string | undefined;
  const parser = createSseParser({
    onEvent: (event) => {
      events.push(event);
      if (event.id !== undefined) lastId = event.id;
    },
    onComment: (text) => comments.push(text),
  });
  parser.feed(body);
  parser.end();
  return { events, comments, complete, lastId };
}

/** The body of a chunked response, as far as it arrived, and whether its last chunk did. */
function dechunk(raw: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  const head = raw.indexOf('\r\n\r\n');
  if (head < 0) return { body: Buffer.alloc(0), complete: false };
  let at = head + 4;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    const start = eol + 2;
    parts.push(raw.subarray(start, Math.min(start + size, raw.length)));
    if (start + size > raw.length) break;
    at = start + size + 2;
  }
  return { body: Buffer.concat(parts), complete: false };
}
