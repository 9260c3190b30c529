import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startMirror, type Mirror, type MirrorOptions } from '../../src/mirror/mirror.js';
import type { AppOptions } from '../../src/server/app.js';
import type { LoadManager } from '../../src/server/load-manager.js';
import { startServer } from '../../src/server/start.js';
import { resolveServeConfig, serverOptions } from '../../src/cli/serve.js';
import type { TransformersLoaderOptions } from '../../src/server/transformers-loader.js';
import { demoModelsDir } from './demo.js';

/** A modeldeck server on an ephemeral port, loading through a real transformers.js loader. */
export interface TestServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly manager: LoadManager;
  readonly cacheDir: string;
  close(): Promise<void>;
}

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  readonly hubUrl: string;
  /** Defaults to a new temporary directory, removed on close. */
  readonly cacheDir?: string;
  readonly offline?: boolean;
  readonly token?: string;
  /** The server's dtype preference (serve --dtype). */
  readonly dtype?: readonly string[];
  readonly stallTimeoutMs?: number;
  readonly downloadConnections?: number;
  /** Retry settings of downloads; tests shorten the backoff. */
  readonly download?: TransformersLoaderOptions['download'];
  readonly heartbeatMs?: number;
  /** Chat requests of one model generating or waiting at once (serve --max-queue). */
  readonly maxQueue?: number;
  readonly idleTimeoutMs?: number;
  readonly maxModels?: number;
  /** Events kept for `GET /events` reconnects. */
  readonly feedHistory?: number;
  readonly apiKey?: string;
  /** Keys that may only read (serve --watch-key); only with `apiKey`. */
  readonly watchKeys?: readonly string[];
  /** Fastify's logger option; defaults to no logging. */
  readonly logger?: AppOptions['logger'];
}

/** Starts a server on 127.0.0.1:0. */
export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const ownCache = options.cacheDir === undefined;
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'modeldeck-cache-')));
  const server = await startServer({
    loader: {
      hubUrl: options.hubUrl,
      cacheDir,
      ...(options.offline !== undefined ? { offline: options.offline } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
      ...(options.stallTimeoutMs !== undefined ? { stallTimeoutMs: options.stallTimeoutMs } : {}),
      ...(options.downloadConnections !== undefined ? { downloadConnections: options.downloadConnections } : {}),
      ...(options.download !== undefined ? { download: options.download } : {}),
    },
    ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.maxModels !== undefined ? { maxModels: options.maxModels } : {}),
    ...(options.feedHistory !== undefined ? { feedHistory: options.feedHistory } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    ...(options.watchKeys !== undefined ? { watchKeys: options.watchKeys } : {}),
    logger: options.logger ?? false,
  });
  return {
    url: server.url,
    app: server.app,
    manager: server.manager,
    cacheDir,
    async close() {
      await server.close();
      if (ownCache) await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Starts a mirror of `root` on 127.0.0.1:0. */
export function startTestMirror(root: string, options: Omit<MirrorOptions, 'root'> = {}): Promise<Mirror> {
  return startMirror({ root, host: '127.0.0.1', port: 0, ...options });
}

/** The demo's tiny chat model and a copy of it under another name: two models that load in a second. */
export const TWIN_A = 'modeldeck/tiny-chat';
export const TWIN_B = 'modeldeck/tiny-chat-b';

/** A mirror on 127.0.0.1:0 serving {@link TWIN_A} and {@link TWIN_B} from a temporary root, removed on `close()`. */
export async function startTwinMirror(label: string): Promise<{ readonly mirror: Mirror; close(): Promise<void> }> {
  const models = await demoModelsDir();
  const root = await mkdtemp(join(tmpdir(), `modeldeck-${label}-root-`));
  await cp(join(models, TWIN_A), join(root, TWIN_A), { recursive: true });
  await cp(join(models, TWIN_A), join(root, TWIN_B), { recursive: true });
  const mirror = await startTestMirror(root);
  return {
    mirror,
    async close() {
      await mirror.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The mirror's file GETs (not listings), as `{repo-relative path}` or `{path} {range}` for the ranged parts of a
 * parallel download: the same entry twice means the same bytes fetched twice.
 */
export function fileDownloads(mirror: Mirror): string[] {
  return mirror.requests
    .filter((r) => r.method === 'GET' && r.url.includes('/resolve/'))
    .map((r) => `${r.url.replace(/^.*\/resolve\/[^/]+\//, '')}${r.range === undefined ? '' : ` ${r.range}`}`);
}

/** The URL a spawned `modeldeck serve` prints in its "listening on" line; rejects if it exits before. */
export function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(out);
      if (found?.[1] !== undefined) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`modeldeck serve exited with ${code} before listening`)));
  });
}

/**
 * A server started as `modeldeck serve --hub-url HUB ARGS` starts it (the command's own flag parsing and defaults),
 * on port 0 with a temporary cache of its own; both go when `t` ends.
 */
export async function serveAsCommand(
  t: { teardown(fn: () => Promise<void>): void },
  hubUrl: string,
  args: readonly string[],
): Promise<Awaited<ReturnType<typeof startServer>>> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-serve-cache-'));
  const config = resolveServeConfig(['--hub-url', hubUrl, '--cache-dir', cacheDir, ...args], {
    HF_HOME: join(cacheDir, 'no-hf-home'),
  });
  if (!config) throw new Error('no config');
  const server = await startServer({ ...serverOptions(config), port: 0, logger: false });
  t.teardown(async () => {
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
  });
  return server;
}
