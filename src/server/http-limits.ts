/**
 * How long a client may take to send a request, how long an idle connection is kept, and how many connections are
 * open at once: the limits that keep idle or slow clients from holding the server's file descriptors.
 *
 * Node's HTTP server measures the first two itself (`headersTimeout`, `requestTimeout`: from a request's first byte,
 * or from the connection's opening, until its headers, resp. its whole body, have arrived; checked every
 * `connectionsCheckingInterval`). A response that has begun, an event stream included, is past both: they only bound
 * what the client sends. Fastify turns `requestTimeout` off by default; modeldeck turns it on.
 */

import type { Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyHttpOptions, FastifyInstance, FastifyRequest } from 'fastify';
import { wireError } from '../protocol/errors.js';
import { sendError } from './error-reply.js';

/** The limits, in milliseconds and connections. */
export interface HttpLimits {
  /** A request's headers and body must arrive within this long, or it gets a 408 and is closed; 0 never. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection (between requests) is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /**
   * Connections open at once. Past it the oldest connection doing nothing is closed to make room; when every one is
   * busy, a new connection's requests are answered 503 (but `/health` and a client with the API key) and it is
   * closed; past twice as many, new connections are closed unanswered, so a flood cannot take the descriptors either.
   * 0 no cap.
   */
  readonly maxConnections: number;
}

/** The defaults of `modeldeck serve` (README, serve section). */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1000,
};

/** The headers must be in within 10 s (or the request timeout, if that is shorter). */
const HEADERS_TIMEOUT_MS = 10_000;

/** The Fastify options that set the timeouts of `limits`. */
export function httpLimitOptions(limits: HttpLimits): FastifyHttpOptions<Server> {
  const request = limits.requestTimeoutMs;
  const headers = request > 0 ? Math.min(HEADERS_TIMEOUT_MS, request) : HEADERS_TIMEOUT_MS;
  return {
    requestTimeout: request,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the two timeouts on this period (30 s by default): a tenth of the shorter one keeps them accurate.
    http: { headersTimeout: headers, connectionsCheckingInterval: Math.max(50, Math.min(1000, headers / 10)) },
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => answerClientError(error, socket, limits),
  };
}

/**
 * Answers a request Node's parser refused (a timeout, headers too large, malformed HTTP) in the server's error shape,
 * then closes the connection. A connection whose response has begun only closes: a second response would corrupt it.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket, limits: HttpLimits): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let answer = wireError('BAD_REQUEST', 'the request is not valid HTTP');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    answer = wireError(
      'REQUEST_TIMEOUT',
      `the request did not arrive within ${limits.requestTimeoutMs / 1000} s (headers within ` +
        `${Math.min(HEADERS_TIMEOUT_MS, limits.requestTimeoutMs || HEADERS_TIMEOUT_MS) / 1000} s); ` +
        'the connection is closed (serve --request-timeout)',
    );
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    answer = wireError('HEADERS_TOO_LARGE', 'the request headers are too large (16 KiB at most)');
  }
  const { status, body } = answer;
  if (socket.writable && socket.bytesWritten === 0) {
    const text = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroySoon();
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** What the cap knows of one open connection. */
interface Connection {
  /** Requests on it whose response has not ended. */
  busy: number;
  /** Whether a request has ever reached the server on it (its headers arrived whole). */
  served: boolean;
}

/** Routes answered on every connection, past the cap too: they cost nothing, and they tell whether the server lives. */
const ALWAYS_ANSWERED: ReadonlySet<string> = new Set(['/health', '/ready']);

/**
 * Caps the connections open at once (see {@link HttpLimits.maxConnections}). Call right after creating the app, so
 * that the refusal runs before any other hook (an API key check included: the cap protects the server, not a route).
 *
 * A connection over the cap first makes room: the oldest open connection that is doing nothing is closed, one that
 * never sent a whole request before one that is idle between requests (so a flood of silent or half-sent connections
 * cannot lock anyone out; a connection with a request or a stream under way is never closed). Only when every
 * connection is busy is the new one refused: its requests get 503, except `/health` (and `/ready`) and those that
 * `reserved` admits (a client with the API key), which are answered and then closed. Past twice the cap Node closes
 * new connections unanswered, so a flood cannot take the descriptors either.
 */
export function capConnections(
  app: FastifyInstance,
  limits: HttpLimits,
  reserved?: (request: FastifyRequest) => boolean,
): void {
  const max = limits.maxConnections;
  if (max <= 0) return;
  const open = new Map<Socket, Connection>();
  const refused = new WeakSet<Socket>();
  const warn = rateLimitedWarning(app);
  app.server.maxConnections = max * 2;
  // One listener function for every response and every socket, not a `once` wrapper and a closure each: a feed with
  // ten thousand watchers holds ten thousand of both (about 400 bytes a watcher in a heap snapshot).
  function responseClosed(this: ServerResponse): void {
    const connection = open.get(this.req.socket);
    if (connection !== undefined) connection.busy -= 1;
  }
  function socketClosed(this: Socket): void {
    open.delete(this);
  }
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = open.get(request.socket);
    if (connection === undefined) return;
    connection.busy += 1;
    connection.served = true;
    response.on('close', responseClosed);
  });
  app.server.on('connection', (socket: Socket) => {
    open.set(socket, { busy: 0, served: false });
    socket.on('close', socketClosed);
    if (open.size <= max) return;
    const idle = idlest(open, socket);
    if (idle !== undefined) {
      open.delete(idle);
      idle.destroy();
      warn('connection limit reached: closed the oldest connection doing nothing (--max-connections)', open.size);
      return;
    }
    refused.add(socket);
    warn('connection limit reached, every connection busy: refusing new connections (--max-connections)', open.size);
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!refused.has(request.raw.socket)) return undefined;
    reply.header('connection', 'close');
    if (ALWAYS_ANSWERED.has(request.routeOptions.url ?? '') || reserved?.(request) === true) return undefined;
    reply.header('retry-after', '1');
    return sendError(
      reply,
      'TOO_MANY_CONNECTIONS',
      `the server has ${max} connections open, its limit, each with a request under way: retry shortly, or close ` +
        'idle connections (serve --max-connections)',
    );
  });
}

/**
 * The oldest open connection other than `except` with nothing under way: one that never sent a whole request first
 * (silent, or still sending its headers), else one idle between requests; undefined when every one is busy.
 */
function idlest(open: ReadonlyMap<Socket, Connection>, except: Socket): Socket | undefined {
  let between: Socket | undefined;
  for (const [socket, connection] of open) {
    if (socket === except || connection.busy > 0 || socket.destroyed) continue;
    if (!connection.served) return socket;
    between ??= socket;
  }
  return between;
}

/** A warning for the log at most every 10 s, so that a flood of connections does not flood the log. */
function rateLimitedWarning(app: FastifyInstance): (message: string, open: number) => void {
  let lastWarning = -Infinity;
  return (message, open) => {
    if (Date.now() - lastWarning <= 10_000) return;
    lastWarning = Date.now();
    app.log.warn({ open }, message);
  };
}
