/**
 * One request and its answer: what a handler has ({@link Exchange}) and the answers every route shares (a head, a
 * Hub-like error, a 404, an injected status fault, a 500 when a handler throws). Each records what it sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Edges } from './edges.js';
import type { createFaultTable, FaultKind, FaultSubject } from './faults.js';
import type { HubAuth, TokenCheck } from './options.js';
import type { NotFoundCode, OidCache } from './repo-fs.js';
import type { RequestRecord } from './request-log.js';
import type { UrlSigner } from './signed-url.js';
import type { TokenBucket } from './throttle.js';

/** What every handler of one mirror shares. */
export interface HandlerContext {
  readonly hubAuth: HubAuth | undefined;
  /** Where large files redirect to (see `MirrorOptions.redirectLarge`); set once the CDN listens. */
  cdnUrl: string | undefined;
  readonly root: string;
  readonly pageSize: number | undefined;
  readonly faults: ReturnType<typeof createFaultTable>;
  readonly rate: () => number;
  /** The bucket every response shares. */
  readonly link: TokenBucket;
  readonly oidCache: OidCache;
  readonly auth: TokenCheck | undefined;
  /** Signs the CDN URLs the hub's 302s hand out, and checks them on the CDN. */
  readonly signer: UrlSigner;
  /** The CDN's edges: which of its connections are capped. */
  readonly edges: Edges;
}

/** Everything one response needs besides the request. */
export interface Exchange {
  readonly context: HandlerContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Where what is sent is recorded. */
  readonly record: RequestRecord;
  readonly pathname: string;
}

const STATUS_FAULTS: readonly FaultKind[] = ['status'];

/** Answer with an injected status fault if one matches. */
export function statusFault(x: Exchange, subject: FaultSubject): boolean {
  const fault = x.context.faults.take(subject, STATUS_FAULTS);
  if (fault === undefined || fault.kind !== 'status') return false;
  x.record.faulted('status');
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

const NOT_FOUND_MESSAGES: Record<NotFoundCode, string> = {
  RepoNotFound: 'Repository not found',
  RevisionNotFound: 'Revision not found',
  EntryNotFound: 'Entry not found',
};

/** The Hub's 404, with its `X-Error-Code`. */
export function sendNotFound(
  x: Exchange,
  code: NotFoundCode,
  message: string = NOT_FOUND_MESSAGES[code],
  extra: Record<string, string> = {},
): void {
  sendError(x, 404, code, message, extra);
}

/** A Hub-like error: JSON `{"error": message}` plus `X-Error-Code` / `X-Error-Message`. Never faulted or throttled. */
export function sendError(
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
  x.record.sent(body.length);
  x.res.end(body);
}

/** Sends the head, recording its status. */
export function writeHead(x: Exchange, status: number, headers: Record<string, string | number>): void {
  x.record.head(status);
  x.res.writeHead(status, headers);
}

/**
 * A handler threw: a 500 naming the error, or, once the head is out (the body broke half-way, a read error), a cut
 * connection.
 */
export function answerCrash(req: IncomingMessage, res: ServerResponse, record: RequestRecord, error: unknown): void {
  if (res.headersSent) {
    // Cutting the connection is the only honest signal left.
    res.destroy();
    return;
  }
  const message = `modeldeck mirror: ${(error as Error).message}`;
  const body = Buffer.from(JSON.stringify({ error: message }));
  record.head(500);
  res.writeHead(500, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    'X-Error-Message': headerSafe(message),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Header values must be printable Latin-1; names from URLs can hold anything. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}
