/**
 * The demo stack, the dashboard's default with no server given: everything in-process on loopback. The demo models
 * are generated (once; later runs find them), a mirror serves them with a throttle so the download stage is visible,
 * and a modeldeck server pointed at the mirror answers the sessions. Its cache is a fresh temporary directory unless
 * one is named, so every run shows the download again.
 *
 * The models, the mirror and the server are imported lazily, so that a dashboard pointed at remote servers never
 * loads transformers.js.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 4 MB/s: the ~100 MB demo model takes about 25 s, the 1 MB one a moment. */
export const DEFAULT_DEMO_THROTTLE = 4_000_000;

/** Options of {@link startDemoStack}. */
export interface DemoStackOptions {
  /** Where the demo models are (generated there when missing). Default `defaultDemoDir()`. */
  readonly demoDir?: string;
  /** The server's model cache; default a new temporary directory, removed on close. */
  readonly cacheDir?: string;
  /**
   * The mirror's bandwidth, in bytes per second for all responses together (0 = none): one link, so the parallel
   * downloads share it and the download stage stays visible for a person to watch.
   */
  readonly throttle?: number;
  /** Demo model ids to open; default all of them. */
  readonly models?: readonly string[];
  /** Human-readable progress lines while generating and starting. */
  readonly onProgress?: (line: string) => void;
}

/** The running in-process stack. */
export interface DemoStack {
  /** The modeldeck server's base URL. */
  readonly serverUrl: string;
  /** The mirror's base URL. */
  readonly mirrorUrl: string;
  /** The demo model ids served. */
  readonly models: readonly string[];
  /** Stops the server and the mirror and removes a temporary cache. Idempotent. */
  close(): Promise<void>;
}

/** Generates the demo models if needed and starts the mirror and the server on 127.0.0.1 (free ports). */
export async function startDemoStack(options: DemoStackOptions = {}): Promise<DemoStack> {
  const progress = options.onProgress ?? (() => {});
  const [{ defaultDemoDir }, { DEMO_MODELS, generateDemoModels }, { startMirror }, { startServer }] = await Promise.all(
    [import('./paths.js'), import('./demo-models.js'), import('../mirror/mirror.js'), import('../server/start.js')],
  );
  const demoDir = options.demoDir ?? defaultDemoDir();
  const models = options.models ?? DEMO_MODELS.map((m) => m.id);
  progress(`preparing demo models in ${demoDir} (first run only)…`);
  await generateDemoModels(demoDir, { only: [...models], onProgress: (line) => progress(`demo models: ${line}`) });

  const ownCache = options.cacheDir === undefined;
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'modeldeck-dashboard-cache-')));
  const cleanups: (() => Promise<void>)[] = [];
  if (ownCache) cleanups.push(() => rm(cacheDir, { recursive: true, force: true }));
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    progress('starting the demo mirror…');
    const mirror = await startMirror({
      root: demoDir,
      host: '127.0.0.1',
      port: 0,
      linkThrottle: options.throttle ?? DEFAULT_DEMO_THROTTLE,
    });
    cleanups.push(() => mirror.close());
    progress('starting the modeldeck server…');
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      loader: { hubUrl: mirror.url, cacheDir },
      idleTimeoutMs: 0,
      // The screen owns the terminal: a server log line would tear it.
      logger: false,
    });
    cleanups.push(() => server.close());
    return { serverUrl: server.url, mirrorUrl: mirror.url, models, close };
  } catch (error) {
    await close();
    throw error;
  }
}
