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
 * - With `redirectLarge`, a second origin (the CDN) answers `GET|HEAD /lfs/{org}/{name}/{commit}/{path…}`.
 * Errors are JSON `{"error": "…"}` with the Hub's `X-Error-Code` / `X-Error-Message` headers.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createSecretCheck, parseBearer } from '../common/auth.js';
import { LocalError } from '../common/local-errors.js';
import { createFaultTable, globToRegExp, type FaultKind, type FaultSubject, type MirrorFault } from './faults.js';
import { decideRange } from './http-range.js';
import {
  createOidCache,
  DEFAULT_LFS_THRESHOLD,
  listTree,
  locateRevision,
  pathInfo,
  statFile,
  type NotFoundCode,
  type OidCache,
  type RevisionLocation,
} from './repo-fs.js';
import { parseMirrorRoute, decodedPathname, type MirrorRoute, type RevisionSplit } from './routes.js';
import { createThrottle, createTokenBucket, type TokenBucket } from './throttle.js';

export type { MirrorFault, FaultKind } from './faults.js';

/** Who may read gated repositories: one bearer token, for every repository or only those matching `repos` (globs). */
export interface TokenRequirement {
  readonly token: string;
  /** Repository ids (`org/name`, globs allowed) that need the token. Default: all. */
  readonly repos?: readonly string[];
}

/**
 * Tokens and gating answered as the Hub answers them. A bearer token that is not one of `tokens` gets 401 "Invalid
 * credentials in Authorization header" on every request. A missing repository is a 401 `RepoNotFound` without a token
 * (the Hub does not tell missing from private to strangers) and a 404 with a valid one. A gated repository is a 401
 * `GatedRepo` without a token and a 403 `GatedRepo` with a valid token it is not granted to.
 */
export interface MirrorAuth {
  /** The valid tokens; a token's `grants` (repository globs) are the gated repositories it may read, absent: all. */
  readonly tokens: readonly (string | { readonly token: string; readonly grants?: readonly string[] })[];
  /** Gated repositories, `org/name` globs. Default: none. */
  readonly gated?: readonly string[];
}

/** How a mirror serves. */
export interface MirrorOptions {
  /** Directory holding `{org}/{name}[@{revision}]/…`. */
  readonly root: string;
  /** Bytes per second per response, applied to every body; 0 or absent means unlimited. */
  readonly throttle?: number;
  /** Bytes per second for all responses together (the link); 0 or absent means unlimited. */
  readonly linkThrottle?: number;
  /** Faults to inject from the start (see {@link MirrorFault}). */
  readonly faults?: readonly MirrorFault[];
  /**
   * Require `Authorization: Bearer <token>`: without it, 401 with `X-Error-Code: GatedRepo`; with another token, 403.
   */
  readonly requireToken?: string | TokenRequirement;
  /** Hub-like tokens and gating (see {@link MirrorAuth}); not with `requireToken`. */
  readonly auth?: MirrorAuth;
  /** Receives one line per finished request (method, URL, status, bytes, milliseconds, fault). */
  readonly log?: (line: string) => void;
  /** Files this size or larger are listed with an `lfs` member, in bytes. Default 10 MiB, as the Hub. */
  readonly lfsThreshold?: number;
  /**
   * Tree listings hold at most this many entries a page, the rest behind `Link: <…&cursor=N>; rel="next"`, as the
   * Hub's (1,000 a page). Default: unpaginated.
   */
  readonly pageSize?: number;
  /**
   * Answer `resolve` requests for large (LFS) files with a 302 to a second origin, as the Hub redirects to
   * cdn-lfs.huggingface.co: only the 302 carries `X-Repo-Commit`, `X-Linked-Etag` and `X-Linked-Size`; the CDN answers
   * the bytes (with `Range`) without them, and refuses requests that carry `Authorization` (400, as S3 does). `true`
   * starts the CDN on the mirror's host and a free port; `{ port }` picks its port; `{ url }` redirects to that origin
   * without starting a listener (a CDN that is elsewhere, or unreachable).
   */
  readonly redirectLarge?: boolean | { readonly port?: number } | { readonly url: string };
}

/** One request the mirror received, for tests. Live: `bytesSent` grows while the body goes out. */
export interface MirrorRequest {
  readonly method: string;
  /** The request target as received (path and query, still encoded). */
  readonly url: string;
  /** Status sent, or 0 until the head is sent. */
  status: number;
  /** The `Range` header, if the request had one. */
  readonly range?: string;
  /** Body bytes handed to the socket so far. */
  bytesSent: number;
  /** The injected fault that hit this request, if any. */
  fault?: FaultKind;
  /** True for a request to the CDN origin of {@link MirrorOptions.redirectLarge}. */
  readonly cdn?: true;
  /** True once the response ended or its connection closed. */
  done: boolean;
}

/** A running mirror. */
export interface Mirror {
  /** `http://HOST:PORT`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** With {@link MirrorOptions.redirectLarge}: the origin large files redirect to, `http://HOST:PORT`. */
  readonly cdnUrl?: string;
  /** Requests in arrival order, the last {@link REQUEST_LOG_LIMIT} at most. The same array for the mirror's life. */
  readonly requests: MirrorRequest[];
  /** Empty {@link Mirror.requests}. */
  clearRequests(): void;
  /** Replace the faults; `times` counters start again. Throws `FaultSpecError` on an invalid fault. */
  setFaults(faults: readonly MirrorFault[]): void;
  /** Change the limit, in bytes per second (0 = unlimited); responses already sending follow it too. */
  setThrottle(bytesPerSecond: number): void;
  /** Change the limit of all responses together, in bytes per second (0 = unlimited). */
  setLinkThrottle(bytesPerSecond: number): void;
  /** Stop listening and destroy every connection, stalled ones included. Idempotent. */
  close(): Promise<void>;
}

/** How many requests {@link Mirror.requests} keeps; older ones are dropped. */
export const REQUEST_LOG_LIMIT = 10_000;

/** The mirror cannot start, or was given an option it cannot use; `code` says which. */
export class MirrorError<
  C extends 'MD_MIRROR_ROOT' | 'MD_MIRROR_OPTIONS' = 'MD_MIRROR_ROOT' | 'MD_MIRROR_OPTIONS',
> extends LocalError<C> {
  override readonly name = 'MirrorError';
}

const BODY_FAULTS: readonly FaultKind[] = ['reset', 'truncate', 'stall', 'flip'];
const STATUS_FAULTS: readonly FaultKind[] = ['status'];

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
  const requests: MirrorRequest[] = [];
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
  };

  const sockets = new Set<Socket>();
  const serve = (cdn: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    const entry: MirrorRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: 0,
      ...(req.headers.range === undefined ? {} : { range: req.headers.range }),
      bytesSent: 0,
      done: false,
      ...(cdn ? { cdn: true as const } : {}),
    };
    requests.push(entry);
    if (requests.length > REQUEST_LOG_LIMIT) requests.splice(0, requests.length - REQUEST_LOG_LIMIT);
    const started = performance.now();
    res.once('close', () => {
      entry.done = true;
      if (entry.status === 0) entry.status = res.headersSent ? res.statusCode : 0;
      const fault = entry.fault === undefined ? '' : ` fault=${entry.fault}`;
      const aborted = res.writableFinished || entry.fault !== undefined ? '' : ' aborted';
      options.log?.(
        `${entry.method} ${entry.url} ${entry.status} ${entry.bytesSent}B ${Math.round(performance.now() - started)}ms${fault}${aborted}`,
      );
    });
    (cdn ? handleCdn : handle)(context, req, res, entry).catch((error: unknown) => {
      if (res.headersSent) {
        // The body broke half-way (a read error): cutting the connection is the only honest signal left.
        res.destroy();
        return;
      }
      const message = `modeldeck mirror: ${(error as Error).message}`;
      const body = Buffer.from(JSON.stringify({ error: message }));
      entry.status = 500;
      res.writeHead(500, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': body.length,
        'X-Error-Message': headerSafe(message),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  };
  const servers: Server[] = [];
  const host = options.host ?? '127.0.0.1';
  const listen = async (cdn: boolean, port: number): Promise<number> => {
    const server = createServer(serve(cdn));
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
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
  };
  const origin = (port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const port = await listen(false, options.port ?? 0);
  const redirect = options.redirectLarge;
  if (redirect !== undefined && redirect !== false) {
    if (typeof redirect === 'object' && 'url' in redirect) {
      context.cdnUrl = checkCdnUrl(redirect.url);
    } else {
      const cdnPort = typeof redirect === 'object' ? (redirect.port ?? 0) : 0;
      context.cdnUrl = await listen(true, cdnPort).then(origin, async (error: unknown) => {
        await closeAll(servers, sockets);
        throw error;
      });
    }
  }
  let closing: Promise<void> | undefined;

  return {
    url: origin(port),
    port,
    ...(context.cdnUrl === undefined ? {} : { cdnUrl: context.cdnUrl }),
    requests,
    clearRequests() {
      requests.length = 0;
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
    close() {
      closing ??= closeAll(servers, sockets);
      return closing;
    },
  };
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

function checkCdnUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MirrorError('MD_MIRROR_OPTIONS', `redirectLarge.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new MirrorError('MD_MIRROR_OPTIONS', `redirectLarge.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  return parsed.origin;
}

function checkThrottle(bytesPerSecond: number): void {
  if (!(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0)) {
    throw new MirrorError(
      'MD_MIRROR_OPTIONS',
      `throttle must be a number of bytes per second >= 0, got ${String(bytesPerSecond)}`,
    );
  }
}

function checkPageSize(pageSize: number | undefined): number | undefined {
  if (pageSize === undefined) return undefined;
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1))
    throw new MirrorError('MD_MIRROR_OPTIONS', `pageSize must be a whole number >= 1, got ${String(pageSize)}`);
  return pageSize;
}

interface HubAuth {
  /** The grants of a valid token (globs as RegExps; `undefined`: every gated repository), or `false` if invalid. */
  readonly grantsOf: (token: string) => readonly RegExp[] | undefined | false;
  readonly gated: readonly RegExp[];
}

function normaliseAuth(auth: MirrorAuth | undefined, requireToken: unknown): HubAuth | undefined {
  if (auth === undefined) return undefined;
  if (requireToken !== undefined) throw new MirrorError('MD_MIRROR_OPTIONS', 'give auth or requireToken, not both');
  const tokens = auth.tokens.map((entry) => {
    const { token, grants } = typeof entry === 'string' ? { token: entry, grants: undefined } : entry;
    if (typeof token !== 'string' || token === '')
      throw new MirrorError('MD_MIRROR_OPTIONS', 'auth.tokens must be non-empty strings');
    return { isToken: createSecretCheck(token), grants: grants?.map(globToRegExp) };
  });
  return {
    grantsOf(given) {
      const found = tokens.find((entry) => entry.isToken(given));
      return found === undefined ? false : found.grants;
    },
    gated: (auth.gated ?? []).map(globToRegExp),
  };
}

interface HandlerContext {
  readonly hubAuth: HubAuth | undefined;
  /** Where large files redirect to (see {@link MirrorOptions.redirectLarge}); set once the CDN listens. */
  cdnUrl: string | undefined;
  readonly root: string;
  readonly pageSize: number | undefined;
  readonly faults: ReturnType<typeof createFaultTable>;
  readonly rate: () => number;
  /** The bucket every response shares. */
  readonly link: TokenBucket;
  readonly oidCache: OidCache;
  readonly auth:
    { readonly isToken: (given: string) => boolean; readonly repos: readonly RegExp[] | undefined } | undefined;
}

function normaliseToken(requirement: MirrorOptions['requireToken']): HandlerContext['auth'] {
  if (requirement === undefined) return undefined;
  const { token, repos } = typeof requirement === 'string' ? { token: requirement, repos: undefined } : requirement;
  if (typeof token !== 'string' || token === '')
    throw new MirrorError('MD_MIRROR_OPTIONS', 'requireToken needs a non-empty token');
  return { isToken: createSecretCheck(token), repos: repos?.map(globToRegExp) };
}

/** Everything one response needs besides the request. */
interface Exchange {
  readonly context: HandlerContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly entry: MirrorRequest;
  readonly pathname: string;
}

async function handle(
  context: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  entry: MirrorRequest,
): Promise<void> {
  const target = req.url ?? '/';
  const x: Exchange = { context, req, res, entry, pathname: decodedPathname(target) };
  const route = parseMirrorRoute(target);
  const allow = route.kind === 'paths-info' ? ['POST'] : ['GET', 'HEAD'];
  if (!allow.includes(req.method ?? '')) {
    sendError(x, 405, undefined, `Method ${req.method ?? ''} not allowed`, { Allow: allow.join(', ') });
    return;
  }
  switch (route.kind) {
    case 'bad':
      sendError(x, 400, undefined, route.reason);
      return;
    case 'unknown':
      if (statusFault(x, { pathname: x.pathname })) return;
      sendError(x, 404, undefined, 'Not Found');
      return;
    case 'resolve':
    case 'tree':
    case 'paths-info':
    case 'info': {
      const repo = `${route.org}/${route.name}`;
      if (refuseWithoutToken(x, repo)) return;
      const caller = hubCaller(x);
      if (caller === 'refused') return;
      await handleRepoRoute(x, route, repo, caller);
      return;
    }
    default: {
      const unreachable: never = route;
      throw new Error(`unhandled route ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Who asks, under {@link MirrorOptions.auth}: `undefined` without auth; `anonymous` without a token; the grants of a
 * valid token. An invalid token is answered here (401) and gives `refused`.
 */
type Caller = undefined | 'anonymous' | { readonly grants: readonly RegExp[] | undefined };

function hubCaller(x: Exchange): Caller | 'refused' {
  const auth = x.context.hubAuth;
  if (auth === undefined) return undefined;
  const given = parseBearer(x.req.headers.authorization);
  if (given === undefined) return 'anonymous';
  const grants = auth.grantsOf(given);
  if (grants === false) {
    sendError(x, 401, undefined, 'Invalid credentials in Authorization header');
    return 'refused';
  }
  return { grants };
}

/** The Hub's answer to a gated repository: 401 without a token, 403 with one not granted access. */
function sendGated(x: Exchange, repo: string, why: 'anonymous' | 'not granted'): void {
  if (why === 'anonymous') {
    sendError(
      x,
      401,
      'GatedRepo',
      `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
    );
  } else {
    sendError(
      x,
      403,
      'GatedRepo',
      `Access to model ${repo} is restricted and you are not in the authorized list. Visit https://huggingface.co/${repo} to ask for access.`,
    );
  }
}

/** Under {@link MirrorOptions.auth}, answer a gated repository the caller may not read; true if answered. */
function refuseGated(x: Exchange, repo: string, caller: Caller): boolean {
  const auth = x.context.hubAuth;
  if (auth === undefined || caller === undefined || !auth.gated.some((pattern) => pattern.test(repo))) return false;
  if (caller === 'anonymous') {
    sendGated(x, repo, 'anonymous');
    return true;
  }
  if (caller.grants !== undefined && !caller.grants.some((pattern) => pattern.test(repo))) {
    sendGated(x, repo, 'not granted');
    return true;
  }
  return false;
}

async function handleRepoRoute(
  x: Exchange,
  route: Extract<MirrorRoute, { org: string }>,
  repo: string,
  caller: Caller,
): Promise<void> {
  const splits: readonly RevisionSplit[] =
    route.kind === 'info' || route.kind === 'paths-info' ? [{ revision: route.revision, path: '' }] : route.splits;
  const found = await locateFirst(x.context, route.org, route.name, splits);
  if (found === 'RepoNotFound' && caller === 'anonymous') {
    // As the Hub: to a caller without a token, a missing repository looks like a private one.
    sendError(
      x,
      401,
      'RepoNotFound',
      'Repository Not Found. If you are trying to access a private or gated repo, make sure you are authenticated.',
    );
    return;
  }
  if (found !== 'RepoNotFound' && refuseGated(x, repo, caller)) return;
  if (typeof found === 'string') {
    sendNotFound(x, found, found === 'RevisionNotFound' ? `Invalid rev id: ${splits[0]?.revision ?? ''}` : undefined);
    return;
  }
  const { location, path } = found;
  if (statusFault(x, { pathname: x.pathname, repo, ...(route.kind === 'resolve' ? { path } : {}) })) return;
  switch (route.kind) {
    case 'resolve':
      await serveFile(x, location, path, { pathname: x.pathname, repo, path });
      return;
    case 'tree': {
      const entries = await listTree(location, path, route.recursive, x.context.oidCache);
      if (entries === undefined) {
        sendNotFound(x, 'EntryNotFound', undefined, { 'X-Repo-Commit': location.sha });
        return;
      }
      const { pageSize } = x.context;
      if (pageSize === undefined) {
        await sendJson(x, { pathname: x.pathname, repo }, entries);
        return;
      }
      const next = route.cursor + pageSize;
      const link: Record<string, string> =
        next < entries.length ? { Link: `<${nextPageUrl(x, next)}>; rel="next"` } : {};
      await sendJson(x, { pathname: x.pathname, repo }, entries.slice(route.cursor, next), link);
      return;
    }
    case 'info':
      await sendJson(x, { pathname: x.pathname, repo }, await modelInfo(x, location, route.blobs));
      return;
    case 'paths-info': {
      const asked = await readPathsInfoBody(x.req);
      if (typeof asked === 'string') {
        sendError(x, asked.startsWith('request body over') ? 413 : 400, undefined, asked);
        return;
      }
      const modified = asked.expand ? (await stat(location.dir)).mtime.toISOString() : '';
      const entries: object[] = [];
      const seen = new Set<string>();
      for (const path of asked.paths) {
        const entry = await pathInfo(location, path, x.context.oidCache);
        if (entry === undefined || seen.has(entry.path)) continue;
        seen.add(entry.path);
        entries.push(
          asked.expand
            ? { ...entry, lastCommit: { id: location.sha, title: `modeldeck mirror of ${repo}`, date: modified } }
            : entry,
        );
      }
      await sendJson(x, { pathname: x.pathname, repo }, entries);
      return;
    }
    default: {
      const unreachable: never = route;
      throw new Error(`unhandled route ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * The CDN origin of {@link MirrorOptions.redirectLarge}: `GET|HEAD /lfs/{org}/{name}/{commit}/{path…}`, where the
 * hub's 302 points. No token check (the URL is the permission, as a signed CDN URL is); a request that carries
 * `Authorization` anyway is refused with a 400, as S3 refuses a second way of authenticating.
 */
async function handleCdn(
  context: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  entry: MirrorRequest,
): Promise<void> {
  const target = req.url ?? '/';
  const x: Exchange = { context, req, res, entry, pathname: decodedPathname(target) };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(x, 405, undefined, `Method ${req.method ?? ''} not allowed`, { Allow: 'GET, HEAD' });
    return;
  }
  if (req.headers.authorization !== undefined) {
    sendError(x, 400, 'InvalidArgument', 'Only one auth mechanism allowed; the URL is signed, send no Authorization');
    return;
  }
  let segments: string[];
  try {
    segments = new URL(target, 'http://cdn.invalid').pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    sendError(x, 400, undefined, 'malformed percent-encoding in the URL path');
    return;
  }
  const [lfs, org, name, commit, ...rest] = segments;
  if (lfs !== 'lfs' || org === undefined || name === undefined || commit === undefined || rest.length === 0) {
    sendError(x, 404, undefined, 'Not Found');
    return;
  }
  const location = await locateRevision(context.root, org, name, commit, context.oidCache);
  if (typeof location !== 'object') {
    sendError(x, 404, 'NoSuchKey', 'The specified key does not exist.');
    return;
  }
  const path = rest.join('/');
  const subject: FaultSubject = { pathname: x.pathname, repo: location.repo, path };
  if (statusFault(x, subject)) return;
  await serveFile(x, location, path, subject, true);
}

/** Where the hub's 302 sends a large file: its commit and path on the CDN origin. */
function cdnLocation(cdnUrl: string, location: RevisionLocation, path: string): string {
  const encoded = [...location.repo.split('/'), location.sha, ...path.split('/')].map(encodeURIComponent).join('/');
  return `${cdnUrl}/lfs/${encoded}`;
}

/** Bytes a `paths-info` body may have. */
const PATHS_INFO_BODY_LIMIT = 1024 * 1024;

/**
 * The `paths` and `expand` of a `paths-info` body: JSON (`{"paths": [...], "expand": true}`, huggingface.js) or a form
 * (`paths=a&paths=b&expand=True`, huggingface_hub). A string says what is wrong with it.
 */
async function readPathsInfoBody(req: IncomingMessage): Promise<{ paths: string[]; expand: boolean } | string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > PATHS_INFO_BODY_LIMIT) return `request body over ${PATHS_INFO_BODY_LIMIT} bytes`;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const truthy = (value: unknown): boolean =>
    value === true || (typeof value === 'string' && ['true', '1'].includes(value.toLowerCase()));
  if (type === 'application/json') {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return 'the body is not valid JSON';
    }
    if (typeof body !== 'object' || body === null) return 'the body must be a JSON object with "paths"';
    const { paths, expand } = body as { paths?: unknown; expand?: unknown };
    const list = typeof paths === 'string' ? [paths] : paths;
    if (!Array.isArray(list) || !list.every((p): p is string => typeof p === 'string'))
      return '"paths" must be a string or an array of strings';
    return { paths: list, expand: truthy(expand) };
  }
  if (type === 'application/x-www-form-urlencoded' || type === '' || type === undefined) {
    const form = new URLSearchParams(text);
    return { paths: form.getAll('paths'), expand: truthy(form.get('expand') ?? '') };
  }
  return `unsupported Content-Type ${JSON.stringify(type)}: send JSON or a form`;
}

/** Try each way of splitting `{revision}/{path}`, shortest revision first; report the first split's failure. */
async function locateFirst(
  context: HandlerContext,
  org: string,
  name: string,
  splits: readonly RevisionSplit[],
): Promise<{ location: RevisionLocation; path: string } | 'RepoNotFound' | 'RevisionNotFound'> {
  let firstFailure: 'RepoNotFound' | 'RevisionNotFound' = 'RevisionNotFound';
  for (const [i, split] of splits.entries()) {
    const location = await locateRevision(context.root, org, name, split.revision, context.oidCache);
    if (location === 'RepoNotFound') return location;
    if (typeof location === 'object') return { location, path: split.path };
    if (i === 0) firstFailure = location;
  }
  return firstFailure;
}

async function serveFile(
  x: Exchange,
  location: RevisionLocation,
  path: string,
  subject: FaultSubject,
  onCdn = false,
): Promise<void> {
  const file = await statFile(location, path);
  if (file === undefined) {
    if (onCdn) sendError(x, 404, 'NoSuchKey', 'The specified key does not exist.');
    else sendNotFound(x, 'EntryNotFound', undefined, { 'X-Repo-Commit': location.sha });
    return;
  }
  const oids = await x.context.oidCache.oids(file);
  const etag = `"${oids.etag}"`;
  const { cdnUrl } = x.context;
  if (!onCdn && cdnUrl !== undefined && oids.lfs !== undefined) {
    // As the Hub: only this 302 names the commit and the content's sha256 and size; the CDN's answer does not.
    writeHead(x, 302, {
      Location: cdnLocation(cdnUrl, location, path),
      'X-Repo-Commit': location.sha,
      'X-Linked-Etag': etag,
      'X-Linked-Size': file.size,
      'Content-Length': 0,
    });
    x.res.end();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': contentTypeOf(path),
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': new Date(file.mtimeMs).toUTCString(),
  };
  if (!onCdn) headers['X-Repo-Commit'] = location.sha;
  if (oids.lfs !== undefined && !onCdn) {
    headers['X-Linked-Size'] = file.size;
    headers['X-Linked-Etag'] = etag;
  }
  if (etagMatches(x.req.headers['if-none-match'], oids.etag)) {
    writeHead(x, 304, headers);
    x.res.end();
    return;
  }
  const ifRange = x.req.headers['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? x.req.headers.range : undefined;
  const range = decideRange(rangeHeader, file.size);
  switch (range.kind) {
    case 'unsatisfiable':
      writeHead(x, 416, { ...headers, 'Content-Range': `bytes */${file.size}`, 'Content-Length': 0 });
      x.res.end();
      return;
    case 'full':
    case 'partial': {
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : file.size - 1;
      const length = end - start + 1;
      if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
      headers['Content-Length'] = length;
      writeHead(x, range.kind === 'partial' ? 206 : 200, headers);
      await sendBody(x, subject, length, (bytes) => createReadStream(file.absPath, { start, end: start + bytes - 1 }), {
        start,
        ranged: range.kind === 'partial',
      });
      return;
    }
    default: {
      const unreachable: never = range;
      throw new Error(`unhandled range ${JSON.stringify(unreachable)}`);
    }
  }
}

async function modelInfo(x: Exchange, location: RevisionLocation, blobs: boolean): Promise<object> {
  const entries = (await listTree(location, '', true, x.context.oidCache)) ?? [];
  const files = entries.filter((entry) => entry.type === 'file');
  const modified = (await stat(location.dir)).mtime.toISOString();
  const [author] = location.repo.split('/');
  return {
    _id: createHash('sha1').update(location.repo).digest('hex').slice(0, 24),
    id: location.repo,
    modelId: location.repo,
    author,
    sha: location.sha,
    lastModified: modified,
    createdAt: modified,
    private: false,
    disabled: false,
    gated: false,
    downloads: 0,
    likes: 0,
    tags: [],
    siblings: files.map((entry) =>
      blobs
        ? {
            rfilename: entry.path,
            size: entry.size,
            blobId: entry.oid,
            ...(entry.lfs === undefined
              ? {}
              : { lfs: { sha256: entry.lfs.oid, size: entry.lfs.size, pointerSize: entry.lfs.pointerSize } }),
          }
        : { rfilename: entry.path },
    ),
  };
}

/** Answer with an injected status fault if one matches. */
function statusFault(x: Exchange, subject: FaultSubject): boolean {
  const fault = x.context.faults.take(subject, STATUS_FAULTS);
  if (fault === undefined || fault.kind !== 'status') return false;
  x.entry.fault = 'status';
  const retryAfter = fault.retryAfter ?? (fault.status === 429 ? 1 : undefined);
  // The Hub's buckets: `api` for /api/ calls, `resolvers` for file downloads, each a 5-minute fixed window.
  const bucket = x.pathname.startsWith('/api/') ? 'api' : 'resolvers';
  const wait: Record<string, string> =
    retryAfter === undefined
      ? {}
      : {
          'Retry-After': String(retryAfter),
          RateLimit: `"${bucket}";r=0;t=${retryAfter}`,
          'RateLimit-Policy': `"fixed window";"${bucket}";q=${bucket === 'api' ? 500 : 3000};w=300`,
        };
  if (fault.status === 404) sendNotFound(x, 'EntryNotFound');
  else sendError(x, fault.status, undefined, `modeldeck mirror: injected ${fault.status} fault`, wait);
  return true;
}

function refuseWithoutToken(x: Exchange, repo: string): boolean {
  const auth = x.context.auth;
  if (auth === undefined) return false;
  if (auth.repos !== undefined && !auth.repos.some((pattern) => pattern.test(repo))) return false;
  const given = parseBearer(x.req.headers.authorization);
  if (given === undefined) {
    sendGated(x, repo, 'anonymous');
    return true;
  }
  if (!auth.isToken(given)) {
    sendGated(x, repo, 'not granted');
    return true;
  }
  return false;
}

const NOT_FOUND_MESSAGES: Record<NotFoundCode, string> = {
  RepoNotFound: 'Repository not found',
  RevisionNotFound: 'Revision not found',
  EntryNotFound: 'Entry not found',
};

function sendNotFound(
  x: Exchange,
  code: NotFoundCode,
  message: string = NOT_FOUND_MESSAGES[code],
  extra: Record<string, string> = {},
): void {
  sendError(x, 404, code, message, extra);
}

/** A Hub-like error: JSON `{"error": message}` plus `X-Error-Code` / `X-Error-Message`. Never faulted or throttled. */
function sendError(
  x: Exchange,
  status: number,
  code: string | undefined,
  message: string,
  extra: Record<string, string> = {},
): void {
  const body = Buffer.from(JSON.stringify({ error: message }));
  writeHead(x, status, {
    ...extra,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    ...(code === undefined ? {} : { 'X-Error-Code': code }),
    'X-Error-Message': headerSafe(message),
  });
  if (x.req.method === 'HEAD') {
    x.res.end();
    return;
  }
  x.entry.bytesSent += body.length;
  x.res.end(body);
}

/** The absolute URL of the listing page starting at entry `cursor`: this request's, with `cursor` set. */
function nextPageUrl(x: Exchange, cursor: number): string {
  const url = new URL(x.req.url ?? '/', `http://${x.req.headers.host ?? 'localhost'}`);
  url.searchParams.set('cursor', String(cursor));
  return url.toString();
}

/** A JSON body: throttled, and subject to body faults whose pattern names the URL path. */
async function sendJson(
  x: Exchange,
  subject: FaultSubject,
  value: unknown,
  extra: Record<string, string> = {},
): Promise<void> {
  const body = Buffer.from(JSON.stringify(value));
  writeHead(x, 200, { ...extra, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  await sendBody(x, subject, body.length, (bytes) => Readable.from([body.subarray(0, bytes)]));
}

function writeHead(x: Exchange, status: number, headers: Record<string, string | number>): void {
  x.entry.status = status;
  x.res.writeHead(status, headers);
}

/** Where a body sits in its file: its first byte's offset, and whether it answers a `Range`. */
interface BodyPlace {
  readonly start: number;
  readonly ranged: boolean;
}

/**
 * Send `length` body bytes from `open(bytes)` (a stream of the first `bytes` bytes), throttled, counting what goes
 * out, unless a body fault matches: then only the fault's bytes are sent and the connection is reset, ended or left
 * hanging, or (a flip) all of them with one byte inverted. Fault offsets count from the file's start (see
 * {@link MirrorFault}).
 */
async function sendBody(
  x: Exchange,
  subject: FaultSubject,
  length: number,
  open: (bytes: number) => Readable,
  place: BodyPlace = { start: 0, ranged: false },
): Promise<void> {
  const { res, entry } = x;
  if (x.req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const { start } = place;
  const offsetOf = (fault: MirrorFault): number =>
    fault.kind === 'truncate' ? fault.bytes : fault.kind === 'status' ? 0 : fault.afterBytes;
  const fault = x.context.faults.take(subject, BODY_FAULTS, (candidate) => {
    const at = offsetOf(candidate);
    if (candidate.kind === 'flip') return at >= start && at < start + length;
    return !place.ranged || (at >= start && at < start + length);
  });
  const meter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      entry.bytesSent += chunk.length;
      callback(null, chunk);
    },
  });
  const throttle = createThrottle({ bytesPerSecond: x.context.rate, shared: x.context.link });
  if (fault === undefined) {
    await pipeline(open(length), throttle, meter, res).catch(ignoreAbort(res));
    return;
  }
  entry.fault = fault.kind;
  if (fault.kind === 'flip') {
    await pipeline(open(length), flipAt(fault.afterBytes - start), throttle, meter, res).catch(ignoreAbort(res));
    return;
  }
  const bytes = Math.min(length, Math.max(0, offsetOf(fault) - start));
  if (bytes > 0) {
    try {
      await pipeline(open(bytes), throttle, meter, res, { end: false });
    } catch (error) {
      ignoreAbort(res)(error);
      return;
    }
  } else {
    res.flushHeaders();
  }
  const socket = res.socket;
  if (socket === null || socket.destroyed) return;
  // Whatever the response has written must reach the kernel before the connection is cut.
  await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
  switch (fault.kind) {
    case 'reset':
      socket.resetAndDestroy();
      return;
    case 'truncate':
      socket.end();
      return;
    case 'stall':
      // Leave it open: the client's timeout or close() ends it.
      return;
    case 'status':
      return;
    default: {
      const unreachable: never = fault;
      throw new Error(`unhandled fault ${JSON.stringify(unreachable)}`);
    }
  }
}

/** A pass-through that inverts the byte at `offset` of the stream. */
function flipAt(offset: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const at = offset - seen;
      seen += chunk.length;
      if (at < 0 || at >= chunk.length) {
        callback(null, chunk);
        return;
      }
      const copy = Buffer.from(chunk);
      copy[at] = (copy[at] as number) ^ 0xff;
      callback(null, copy);
    },
  });
}

function ignoreAbort(res: ServerResponse): (error: unknown) => void {
  return (error) => {
    // The client went away (or close() cut it): pipeline already destroyed the file stream and cleared the timer.
    if (res.destroyed || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw error;
  };
}

/** Header values must be printable Latin-1; names from URLs can hold anything. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === `"${etag}"`;
  });
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  jinja: 'text/plain; charset=utf-8',
  model: 'application/octet-stream',
};

function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  const extension = dot < 0 ? '' : path.slice(dot + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}
