/**
 * The server's start-up, in one place: loader -> load manager -> app -> listen. `modeldeck serve`, the demo stack, the
 * tests and the benchmarks all start their servers here, so they run what users run.
 */

import type { FastifyInstance } from 'fastify';
import { ListenError, listenErrorReason } from '../common/listen.js';
import { buildApp, type AppOptions } from './app.js';
import { createLoadManager, type LoadManager } from './load-manager.js';
import { DEFAULT_MAX_LOADS } from './load-limiter.js';
import type { ModelLoader, ModelRef } from './loader-types.js';
import { createReadiness } from './readiness.js';
import { systemClock } from '../common/clock.js';
import { createServerMetrics } from './metrics.js';
import { createTransformersLoader, type TransformersLoaderOptions } from './transformers-loader.js';

/** Options of {@link startServer}: where to listen, what to load with, and the app's own options. */
export interface StartServerOptions extends Omit<AppOptions, 'manager' | 'loader'> {
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Port to listen on; default 0 (a free one). */
  readonly port?: number;
  /** The listen backlog (node's default when absent). */
  readonly backlog?: number;
  /** The hub and cache of the transformers.js loader, or a loader of the caller's own (tests, benchmarks). */
  readonly loader: TransformersLoaderOptions | ModelLoader;
  /** Idle milliseconds before a resident model is unloaded; 0 never (the manager's default when absent). */
  readonly idleTimeoutMs?: number;
  /** Loads running at once; more wait their turn (default {@link DEFAULT_MAX_LOADS}; 0 no cap). */
  readonly maxLoads?: number;
  /** The most models resident at once (`--max-models`); 0 or absent: no limit. */
  readonly maxModels?: number;
  /** How long loads in line for a model slot wait while every slot is held by a generating model (the manager's default when absent). */
  readonly modelSlotWaitMs?: number;
  /** The most loads in line for a model slot (the manager's default when absent). */
  readonly maxWaitingLoads?: number;
  /** Models loaded as soon as the server listens (`--preload`); `GET /ready` answers 503 until they are resident. */
  readonly preload?: readonly ModelRef[];
  /** Models preloaded and never unloaded for idleness nor evicted (`--pin`). */
  readonly pin?: readonly ModelRef[];
  /** Bytes of weights the resident models may hold together (`--max-memory`); 0 or absent: no budget. */
  readonly maxMemoryBytes?: number;
}

/** A listening server. */
export interface RunningServer {
  /** `http://HOST:PORT`, an IPv6 host in brackets. */
  readonly url: string;
  /** The port bound (the real one when 0 was asked for). */
  readonly port: number;
  readonly app: FastifyInstance;
  readonly manager: LoadManager;
  /** Stops listening, closes connections and unloads every model. */
  close(): Promise<void>;
}

function isLoader(loader: StartServerOptions['loader']): loader is ModelLoader {
  return typeof (loader as Partial<ModelLoader>).load === 'function';
}

/** Builds and starts a modeldeck server. @throws ListenError when the address cannot be bound. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { host = '127.0.0.1', port = 0, backlog, loader, idleTimeoutMs, maxLoads, maxModels, ...rest } = options;
  const { modelSlotWaitMs, maxWaitingLoads, preload = [], pin = [], maxMemoryBytes, ...appOptions } = rest;
  const metrics = appOptions.metrics ?? createServerMetrics();
  const onDownloadRetry = (): void => metrics.downloadRetried();
  const modelLoader = isLoader(loader) ? loader : createTransformersLoader({ onDownloadRetry, ...loader });
  const manager = createLoadManager({
    loader: modelLoader,
    maxLoads: maxLoads ?? DEFAULT_MAX_LOADS,
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    ...(maxModels !== undefined ? { maxModels } : {}),
    ...(modelSlotWaitMs !== undefined ? { modelSlotWaitMs } : {}),
    ...(maxWaitingLoads !== undefined ? { maxWaitingLoads } : {}),
    ...(pin.length > 0 ? { pinned: new Set(pin.map((ref) => ref.key)) } : {}),
    ...(maxMemoryBytes !== undefined ? { maxMemoryBytes } : {}),
    onInternalError: (error, ref) => app.log.error({ err: error, model: ref.key }, 'unexpected load failure'),
    onUnload: (ref, reason) => app.log.info({ model: ref.key, reason }, 'model unloaded'),
  });
  const preloads = [...new Map([...preload, ...pin].map((ref) => [ref.key, ref])).values()];
  const readiness = createReadiness(manager, preloads, systemClock);
  const app = buildApp({ ...appOptions, manager, metrics, readiness, loader: modelLoader });
  try {
    await app.listen({
      host,
      port,
      listenTextResolver: (address) => `modeldeck server listening on ${address}`,
      ...(backlog !== undefined ? { backlog } : {}),
    });
  } catch (error) {
    await app.close();
    const reason = listenErrorReason(error);
    if (reason) throw new ListenError(reason, host, port, { cause: error });
    throw error;
  }
  readiness.start();
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shownHost}:${bound}`, port: bound, app, manager, close: () => app.close() };
}
