/**
 * The hub's origin: `resolve` (a file), `tree` (a listing, paginated with `pageSize`), model info and `paths-info`,
 * each behind the token checks of `access.ts`, answered as the Hub answers.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stat } from 'node:fs/promises';
import { hubCaller, refuseGated, refuseWithoutToken, type Caller } from './access.js';
import { sendError, sendNotFound, statusFault, type Exchange, type HandlerContext } from './exchange.js';
import { listTree, locateRevision, pathInfo, type RevisionLocation } from './repo-fs.js';
import type { RequestRecord } from './request-log.js';
import { decodedPathname, parseMirrorRoute, type MirrorRoute, type RevisionSplit } from './routes.js';
import { sendJson } from './send-body.js';
import { serveFile } from './serve-file.js';

/** A request to the hub's origin: the file, listing, model info and paths-info routes, behind the token checks. */
export async function handleHub(
  context: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
): Promise<void> {
  const target = req.url ?? '/';
  const x: Exchange = { context, req, res, record, pathname: decodedPathname(target) };
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

/** The absolute URL of the listing page starting at entry `cursor`: this request's, with `cursor` set. */
function nextPageUrl(x: Exchange, cursor: number): string {
  const url = new URL(x.req.url ?? '/', `http://${x.req.headers.host ?? 'localhost'}`);
  url.searchParams.set('cursor', String(cursor));
  return url.toString();
}
