/**
 * `modeldeck mirror`: serve a directory of model repositories over HTTP in the Hugging Face Hub's URL layout, with
 * optional bandwidth limiting, token checks and injected faults, so tests and air-gapped sites can point Hub clients
 * (transformers.js, huggingface_hub, huggingface.js) at it. Plain `node:http`, no dependencies.
 *
 * Endpoints (see `repo-fs.ts` for the directory layout):
 * - `GET|HEAD /{org}/{name}/resolve/{revision}/{path…}`: the file; single byte ranges; never compressed.
 * - `GET /api/models/{org}/{name}/tree/{revision}[/{path…}][?recursive=true]`: the listing.
 * - `GET /api/models/{org}/{name}[/revision/{revision}][?blobs=true]`: model info with `siblings`.
 * - `POST /api/models/{org}/{name}/paths-info/{revision}` (form or JSON `paths`, `expand`): those paths' entries.
 * - With `redirectLarge`, a second origin (the CDN) answers `GET|HEAD /lfs/{org}/{name}/{commit}/{path…}`, signed and
 *   expiring (`signed-url.ts`), some of its connections on capped edges (`edges.ts`): the Hub's Xet bridge.
 * Errors are JSON `{"error": "…"}` with the Hub's `X-Error-Code` / `X-Error-Message` headers.
 *
 * This file starts and stops the listeners; `hub-api.ts` and `cdn-origin.ts` answer the two origins, `request-log.ts`
 * records every request, `options.ts` checks what the mirror is told.
 */
import { stat } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { handleCdn } from './cdn-origin.js';
import { answerCrash, type HandlerContext } from './exchange.js';
import { createEdges, type EdgeCap } from './edges.js';
import { createFaultTable, type MirrorFault } from './faults.js';
import { handleHub } from './hub-api.js';
import {
  checkCdnUrl,
  checkEdgeCap,
  checkPageSize,
  checkThrottle,
  checkUrlTtl,
  MirrorError,
  normaliseAuth,
  normaliseToken,
  type MirrorOptions,
} from './options.js';
import { createOidCache, DEFAULT_LFS_THRESHOLD } from './repo-fs.js';
import { createRequestLog, type MirrorRequest, type RequestLog } from './request-log.js';
import { createUrlSigner, DEFAULT_URL_TTL_SECONDS } from './signed-url.js';
import { createTokenBucket } from './throttle.js';

export type { EdgeCap } from './edges.js';
export type { MirrorFault } from './faults.js';
export { MirrorError, type MirrorAuth, type MirrorOptions } from './options.js';
export type { MirrorRequest } from './request-log.js';

/** A running mirror. */
export interface Mirror {
  /** `http://HOST:PORT`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** With {@link MirrorOptions.redirectLarge}: the origin large files redirect to, `http://HOST:PORT`. */
  readonly cdnUrl?: string;
  /**
   * Requests in arrival order, the last `REQUEST_LOG_LIMIT` (`request-log.ts`) at most. The same array for the
   * mirror's life.
   */
  readonly requests: MirrorRequest[];
  /** Empty {@link Mirror.requests}. */
  clearRequests(): void;
  /** Replace the faults; `times` counters start again. Throws `FaultSpecError` on an invalid fault. */
  setFaults(faults: readonly MirrorFault[]): void;
  /** Change the limit, in bytes per second (0 = unlimited); responses already sending follow it too. */
  setThrottle(bytesPerSecond: number): void;
  /** Change the limit of all responses together, in bytes per second (0 = unlimited). */
  setLinkThrottle(bytesPerSecond: number): void;
  /** Change the lifetime of the CDN URLs signed from now on, in whole seconds (see `MirrorOptions.urlTtl`). */
  setUrlTtl(seconds: number): void;
  /** Change which CDN edges are capped (`undefined`: none); responses under way on a capped edge follow it. */
  setEdgeCap(cap: EdgeCap | undefined): void;
  /** Stop listening and destroy every connection, stalled ones included. Idempotent. */
  close(): Promise<void>;
}

/** Start a mirror on `host` (default 127.0.0.1) and `port` (default 0, a free port). */
export async function startMirror(options: MirrorOptions & { host?: string; port?: number }): Promise<Mirror> {
  const rootInfo = await stat(options.root).catch(() => undefined);
  if (rootInfo === undefined || !rootInfo.isDirectory()) {
    throw new MirrorError('MD_MIRROR_ROOT', JSON.stringify(options.root));
  }
  checkThrottle(options.throttle ?? 0);
  checkThrottle(options.linkThrottle ?? 0);
  const faults = createFaultTable(options.faults ?? []);
  let throttle = options.throttle ?? 0;
  let linkThrottle = options.linkThrottle ?? 0;
  let urlTtl = checkUrlTtl(options.urlTtl ?? DEFAULT_URL_TTL_SECONDS);
  let edgeCap = checkEdgeCap(options.edgeCap);
  const log = createRequestLog(options.log);
  const context: HandlerContext = {
    root: options.root,
    faults,
    rate: () => throttle,
    link: createTokenBucket({ bytesPerSecond: () => linkThrottle }),
    oidCache: createOidCache(options.lfsThreshold ?? DEFAULT_LFS_THRESHOLD),
    auth: normaliseToken(options.requireToken),
    hubAuth: normaliseAuth(options.auth, options.requireToken),
    pageSize: checkPageSize(options.pageSize),
    cdnUrl: undefined,
    signer: createUrlSigner({ ttlSeconds: () => urlTtl, ...(options.now === undefined ? {} : { now: options.now }) }),
    edges: createEdges(() => edgeCap),
  };
  const listeners = createListeners(
    options.host ?? '127.0.0.1',
    (cdn) => answer(context, log, cdn),
    (socket) => context.edges.accept(socket),
  );
  const port = await listeners.listen(false, options.port ?? 0);
  context.cdnUrl = await startCdn(options.redirectLarge, listeners);
  let closing: Promise<void> | undefined;

  return {
    url: listeners.origin(port),
    port,
    ...(context.cdnUrl === undefined ? {} : { cdnUrl: context.cdnUrl }),
    requests: log.requests,
    clearRequests() {
      log.clear();
    },
    setFaults(next) {
      faults.set(next);
    },
    setThrottle(bytesPerSecond) {
      checkThrottle(bytesPerSecond);
      throttle = bytesPerSecond;
    },
    setLinkThrottle(bytesPerSecond) {
      checkThrottle(bytesPerSecond);
      linkThrottle = bytesPerSecond;
    },
    setUrlTtl(seconds) {
      urlTtl = checkUrlTtl(seconds);
    },
    setEdgeCap(cap) {
      edgeCap = checkEdgeCap(cap);
    },
    close() {
      closing ??= listeners.close();
      return closing;
    },
  };
}

/** The listener of one origin: each request is recorded, then answered by its origin's handler. */
function answer(context: HandlerContext, log: RequestLog, cdn: boolean): RequestListener {
  return (req, res) => {
    const record = log.open(req, res, cdn);
    (cdn ? handleCdn : handleHub)(context, req, res, record).catch((error: unknown) =>
      answerCrash(req, res, record, error),
    );
  };
}

/** The mirror's HTTP servers on one host (the hub's origin, and the CDN's), and every socket they accepted. */
interface Listeners {
  /** Starts the server of one origin on `port` (0: a free one); resolves with the port it listens on. */
  listen(cdn: boolean, port: number): Promise<number>;
  /** `http://HOST:PORT` of a port on this host. */
  origin(port: number): string;
  /** Stops every server and destroys every connection, stalled ones included. */
  close(): Promise<void>;
}

function createListeners(
  host: string,
  listenerFor: (cdn: boolean) => RequestListener,
  onCdnConnection: (socket: Socket) => void,
): Listeners {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  return {
    async listen(cdn, port) {
      const server = createServer(listenerFor(cdn));
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        if (cdn) onCdnConnection(socket);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const address = server.address();
      return typeof address === 'object' && address !== null ? address.port : 0;
    },
    origin: (port) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => closeAll(servers, sockets),
  };
}

/**
 * Where large files redirect to under {@link MirrorOptions.redirectLarge}: the URL given, or the origin of a CDN
 * listener started here (if it cannot listen, the hub's listener is closed too). `undefined` without a CDN.
 */
async function startCdn(redirect: MirrorOptions['redirectLarge'], listeners: Listeners): Promise<string | undefined> {
  if (redirect === undefined || redirect === false) return undefined;
  if (typeof redirect === 'object' && 'url' in redirect) return checkCdnUrl(redirect.url);
  const cdnPort = typeof redirect === 'object' ? (redirect.port ?? 0) : 0;
  return listeners.listen(true, cdnPort).then(listeners.origin, async (error: unknown) => {
    await listeners.close();
    throw error;
  });
}

async function closeAll(servers: readonly Server[], sockets: ReadonlySet<Socket>): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    ),
  ).then(
    () => undefined,
    () => undefined,
  );
  for (const socket of sockets) socket.destroy();
}
