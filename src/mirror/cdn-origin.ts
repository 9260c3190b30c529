/**
 * The second origin of `redirectLarge`, the mirror's CDN: it serves `/lfs/{org}/{name}/{commit}/{path…}`, where
 * the hub's 302 for a large file points.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, statusFault, type Exchange, type HandlerContext } from './exchange.js';
import type { FaultSubject } from './faults.js';
import { locateRevision } from './repo-fs.js';
import type { RequestRecord } from './request-log.js';
import { decodedPathname } from './routes.js';
import { serveFile } from './serve-file.js';

/**
 * The CDN origin of `MirrorOptions.redirectLarge`: `GET|HEAD /lfs/{org}/{name}/{commit}/{path…}`, where the
 * hub's 302 points. No token check (the URL is the permission, as a signed CDN URL is); a request that carries
 * `Authorization` anyway is refused with a 400, as S3 refuses a second way of authenticating.
 */
export async function handleCdn(
  context: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
): Promise<void> {
  const target = req.url ?? '/';
  const x: Exchange = { context, req, res, record, pathname: decodedPathname(target) };
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
