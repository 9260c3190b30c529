import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { isTerminal } from '../protocol/events.js';
import { validateLoadModelRequest } from '../protocol/load-request.js';
import type { WireErrorCode } from '../protocol/errors.js';
import type { LoadManager } from './load-manager.js';
import { registerChatRoutes } from './chat-routes.js';
import { createEventFeed } from './event-feed.js';
import { registerFeedRoutes } from './feed-routes.js';
import { registerModelRoutes, unloadForKeepAliveZero } from './model-routes.js';
import { drainRefusedBodies } from './body-drain.js';
import { closeGracefully } from './shutdown.js';
import { trackGenerations } from './work-tracker.js';
import { useJsonBodyParser } from './json-body.js';
import { answerWrongMethods } from './wrong-method.js';
import { DEFAULT_HTTP_LIMITS, capConnections, httpLimitOptions, type HttpLimits } from './http-limits.js';
import { sendError } from './error-reply.js';
import { parseDtypePreference } from '../protocol/dtype.js';
import { isUsableRequestId, REQUEST_ID_HEADER } from '../protocol/request-id.js';
import { parseKeepAlive } from '../protocol/keep-alive.js';
import type { Selection } from './fetch/model-files.js';
import { openSseStream } from './sse-stream.js';
import { loadEventFrame } from './load-frame.js';
import { guardRoutes, keyHolder } from './access.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { registerCacheRoutes } from './cache-routes.js';
import type { ModelLoader } from './loader-types.js';
import { createReadiness, type Readiness } from './readiness.js';
import { systemClock } from '../common/clock.js';

/** Options of {@link buildApp}. */
export interface AppOptions {
  readonly manager: LoadManager;
  /** Milliseconds without a frame before a `: keep-alive` comment; 0 disables. */
  readonly heartbeatMs?: number;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimit?: number;
  /** Fastify's logger option (false in tests). */
  readonly logger?: FastifyServerOptions['logger'];
  /** The full key: when set, every route but `/health` requires `Authorization: Bearer <key>` of a key below. */
  readonly apiKey?: string;
  /**
   * Watch keys (`serve --watch-key`): each opens the reading routes only (`src/protocol/access.ts`), every other route
   * answers them 403 `PERMISSION_DENIED`. Only with `apiKey` (a `KeyError` otherwise).
   */
  readonly watchKeys?: readonly string[];
  /** Close open connections at once on `close()` (tests and shutdown). */
  readonly forceCloseConnections?: boolean;
  /** Events of `GET /events` kept for watchers that reconnect with `Last-Event-ID` (default 1000). */
  readonly feedHistory?: number;
  /** The reconnection delay `GET /events` announces with `retry:`, in milliseconds (default 2000). */
  readonly feedRetryMs?: number;
  /** How long `/unload_model` and `/reset` wait for replies under way before a 409, in milliseconds (default 10 s). */
  readonly unloadWaitMs?: number;
  /** A chat reply running longer than this is ended with GENERATION_TIMEOUT, in milliseconds (default 120 s; 0 never). */
  readonly generationTimeoutMs?: number;
  /** Chat requests of one model generating or waiting at once before a 429 `QUEUE_FULL` (default 16; 0 no cap). */
  readonly maxQueue?: number;
  /** How long replies under way get to finish on `close()`, in milliseconds (default 10 s). */
  readonly shutdownGraceMs?: number;
  /** Request and idle timeouts and the connection cap; each defaults to {@link DEFAULT_HTTP_LIMITS}. */
  readonly limits?: Partial<HttpLimits>;
  /** The loader, for the disk cache's routes (`/pull_model`, `/cache`, `/delete_model`); without it they have none. */
  readonly loader?: ModelLoader;
  /** What `GET /ready` answers (`startServer` makes it from `--preload` and `--pin`); ready at once when absent. */
  readonly readiness?: Readiness;
  /** The figures `GET /metrics` shows (`startServer` makes them first, for the downloader's retries); new ones when absent. */
  readonly metrics?: ServerMetrics;
}

/** Builds the modeldeck HTTP application without listening: tests call `inject()` or `listen({port: 0})`. */
export function buildApp(options: AppOptions): FastifyInstance {
  const { manager } = options;
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const app = Fastify({
    ...httpLimitOptions(limits),
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    forceCloseConnections: options.forceCloseConnections ?? true,
    // Requests during shutdown get the catalogue's ABORTED (shutdown.ts), not Fastify's own 503 body.
    return503OnClosing: false,
    // Every plugin here is local and starts in milliseconds; on a starved 2-core machine avvio's default 10 s has
    // been seen to run out while ONNX sessions were being built, failing a start that would have succeeded.
    pluginTimeout: 60_000,
    // X-Request-ID: the client's when usable, else one minted here; Fastify logs it with each request as `reqId`.
    requestIdHeader: false,
    genReqId: (request) => {
      const sent = request.headers[REQUEST_ID_HEADER];
      return isUsableRequestId(sent) ? sent : randomUUID();
    },
  });
  // First of the hooks, so that every answer carries it: a 401, a 503 past the connection cap, a 404.
  app.addHook('onRequest', async (request, reply) => void reply.header(REQUEST_ID_HEADER, request.id));
  // Past the cap, a client with one of the server's keys is still answered (http-limits.ts).
  capConnections(app, limits, keyHolder(options));
  const tracker = trackGenerations(manager);
  closeGracefully(app, manager, tracker, options.shutdownGraceMs);
  useJsonBodyParser(app);
  drainRefusedBodies(app);
  // Every body is JSON: Fastify's built-in text/plain parser would hand a route a string (a 400 "got string") where
  // the protocol answers any non-JSON Content-Type with 415.
  app.removeContentTypeParser('text/plain');

  // Bad input is the client's problem: answer it in JSON that names the problem, never a stack trace in the log.
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status < 500) {
      request.log.info({ code: error.code, status }, error.message);
      return sendError(reply, codeOfRefusal(error.code, status), error.message);
    }
    request.log.error(error);
    return sendError(reply, 'INTERNAL_ERROR', 'internal server error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'NOT_FOUND', `no route for ${request.method} ${request.url}`),
  );

  guardRoutes(app, options);
  // After the key check (a wrong method on a guarded server is still a 401 without the key), before the routes.
  answerWrongMethods(app);

  app.get('/health', async () => ({ status: 'ok' }));
  const readiness = options.readiness ?? createReadiness(manager, [], systemClock);
  app.addHook('onClose', async () => readiness.stop());
  // A readiness probe (Kubernetes, a load balancer): 503 until the preloaded models are resident. Never behind a key.
  app.get('/ready', async (_request, reply) => {
    const answer = readiness.answer();
    if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
    return reply.code(answer.status).send(answer.body);
  });

  const metrics = options.metrics ?? createServerMetrics();
  const stopMetrics = metrics.follow(manager, () => tracker.running());
  app.addHook('onClose', async () => stopMetrics());
  // Reads the tables only: scraping never counts as use of a model.
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.post('/load_model', async (request, reply) => {
    const checked = validateLoadModelRequest(request.body);
    if (!checked.ok) return sendError(reply, checked.code, checked.message);
    const { ref } = checked;
    const dtype = dtypeOf(request.body);
    if (!dtype.ok) return sendError(reply, 'INVALID_DTYPE', dtype.problem, 'dtype');
    const keep = parseKeepAlive((request.body as { keep_alive?: unknown }).keep_alive);
    if (!keep.ok) return sendError(reply, 'INVALID_REQUEST', keep.problem, 'keep_alive');
    const force = (request.body as { force?: unknown }).force ?? false;
    if (typeof force !== 'boolean') {
      return sendError(
        reply,
        'INVALID_REQUEST',
        `'force' must be true or false, got ${JSON.stringify(force)}`,
        'force',
      );
    }
    // Nothing to load and keep for no time: Ollama's "unload it" (loading it only to unload it would help nobody).
    if (keep.ms === 0) {
      const waitMs = options.unloadWaitMs;
      return unloadForKeepAliveZero(reply, tracker.manager, tracker, { key: ref.key, force, waitMs });
    }
    const conflict = manager.dtypeConflict(ref, dtype.value);
    if (conflict !== undefined) return sendError(reply, 'DTYPE_CONFLICT', conflict, 'dtype');
    const stream = openSseStream(reply, { heartbeatMs });
    const subscription = manager.subscribe(
      ref,
      (event) => {
        // The request's keep-alive counts from its answer: the model's ready.
        if (event.status === 'ready' && keep.ms !== undefined) manager.touch(ref.key, keep.ms);
        // One encoding per event, shared by every subscriber of the load (load-frame.ts).
        stream.sendFrame(loadEventFrame(event));
        if (isTerminal(event)) stream.end();
      },
      { ...(dtype.value === undefined ? {} : { dtype: dtype.value }), ...(force ? { force } : {}) },
    );
    // A client that leaves stops receiving; the load itself goes on (and stays cached) for everyone else.
    stream.onDisconnect(() => subscription.unsubscribe());
    if (stream.closed) subscription.unsubscribe();
    return reply;
  });

  const feed = createEventFeed({ historySize: options.feedHistory ?? 1000 });
  registerFeedRoutes(app, { manager, feed, heartbeatMs, retryMs: options.feedRetryMs ?? 2000 });
  registerChatRoutes(app, {
    manager: tracker.manager,
    ...(options.generationTimeoutMs !== undefined ? { generationTimeoutMs: options.generationTimeoutMs } : {}),
    ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
    onChat: (event, payload) => feed.publish(event, JSON.stringify(payload)),
    metrics,
  });
  registerModelRoutes(app, tracker.manager, tracker, options.unloadWaitMs);
  registerCacheRoutes(app, {
    manager,
    loader: options.loader,
    heartbeatMs,
    dtypeOf(body) {
      const dtype = dtypeOf(body);
      if (!dtype.ok) return dtype;
      return { ok: true, value: dtype.value === undefined ? {} : { dtype: dtype.value } };
    },
  });

  return app;
}

/** The body's optional `dtype` (a string, a comma-separated string or a list): the preference, or the problem. */
function dtypeOf(body: unknown): Selection<readonly string[] | undefined> {
  const dtype = (body as { dtype?: unknown }).dtype;
  if (dtype === undefined || dtype === null) return { ok: true, value: undefined };
  const parsed = parseDtypePreference(dtype);
  return parsed.ok ? parsed : { ok: false, problem: `"dtype": ${parsed.problem}` };
}

/** The catalogue's code for a request Fastify itself refused (its own `FST_ERR_*` codes stay in the log). */
function codeOfRefusal(fastifyCode: string | undefined, status: number): WireErrorCode {
  switch (fastifyCode) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'BODY_TOO_LARGE';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'INVALID_BODY';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'INVALID_JSON';
    default:
      return status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST';
  }
}
