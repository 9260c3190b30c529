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
import type { SignatureCheck } from './signed-url.js';

/** What the CDN answers a URL whose signature does not hold, as S3 and CloudFront answer (always a 403). */
const SIGNATURE_REFUSALS: Record<Exclude<SignatureCheck, 'valid'>, { code: string; message: string }> = {
  missing: {
    code: 'AccessDenied',
    message: 'Query-string authentication requires the Expires and Signature parameters',
  },
  mismatch: {
    code: 'SignatureDoesNotMatch',
    message: 'The request signature we calculated does not match the signature you provided',
  },
  expired: { code: 'AccessDenied', message: 'Request has expired' },
};

/**
 * The CDN origin of `MirrorOptions.redirectLarge`: `GET|HEAD /lfs/{org}/{name}/{commit}/{path…}?Expires=…&Signature=…`,
 * where the hub's 302 points. No token check: the signed URL is the permission; an expired, tampered or unsigned one
 * gets a 403, and a request that carries `Authorization` is refused with a 400, as S3 refuses a second way of
 * authenticating. Responses on a connection that landed on a capped edge are slower (`edges.ts`).
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
  const url = new URL(target, 'http://cdn.invalid');
  const signature = context.signer.check(url.pathname, url.searchParams);
  if (signature !== 'valid') {
    const { code, message } = SIGNATURE_REFUSALS[signature];
    sendError(x, 403, code, message);
    return;
  }
  let segments: string[];
  try {
    segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
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
