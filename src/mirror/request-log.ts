/**
 * The requests a mirror received: a bounded list that tests read (`Mirror.requests`), one live entry per request, and
 * the line each finished request leaves in the log. The one writer of an entry: handlers report what they sent
 * through their request's {@link RequestRecord}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultKind } from './faults.js';

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
  /** True when the request carried an `Authorization` header (its value is never kept). */
  readonly authorization?: true;
  /** True for a CDN request on a connection that landed on a capped edge ({@link MirrorOptions.edgeCap}). */
  capped?: true;
  /** True once the response ended or its connection closed. */
  done: boolean;
}

/** How many requests `Mirror.requests` keeps; older ones are dropped. */
export const REQUEST_LOG_LIMIT = 10_000;

/** What a handler tells the log about its request. */
export interface RequestRecord {
  /** A head went out with `status`. */
  head(status: number): void;
  /** `bytes` more body bytes were handed to the socket. */
  sent(bytes: number): void;
  /** An injected fault hit the request. */
  faulted(kind: FaultKind): void;
  /** The response goes out through a capped edge. */
  capped(): void;
}

/** The requests of one mirror. */
export interface RequestLog {
  /** In arrival order, the last {@link REQUEST_LOG_LIMIT} at most; the same array for the mirror's life. */
  readonly requests: MirrorRequest[];
  clear(): void;
  /** The entry of a request that just arrived; its log line is written when the response closes. */
  open(req: IncomingMessage, res: ServerResponse, cdn: boolean): RequestRecord;
}

/** A request log writing each finished request's line (method, URL, status, bytes, milliseconds, fault) to `log`. */
export function createRequestLog(log: ((line: string) => void) | undefined): RequestLog {
  const requests: MirrorRequest[] = [];
  return {
    requests,
    clear() {
      requests.length = 0;
    },
    open(req, res, cdn) {
      const entry: MirrorRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        status: 0,
        ...(req.headers.range === undefined ? {} : { range: req.headers.range }),
        bytesSent: 0,
        done: false,
        ...(cdn ? { cdn: true as const } : {}),
        ...(req.headers.authorization === undefined ? {} : { authorization: true as const }),
      };
      requests.push(entry);
      if (requests.length > REQUEST_LOG_LIMIT) requests.splice(0, requests.length - REQUEST_LOG_LIMIT);
      const started = performance.now();
      res.once('close', () => {
        entry.done = true;
        if (entry.status === 0) entry.status = res.headersSent ? res.statusCode : 0;
        const fault = entry.fault === undefined ? '' : ` fault=${entry.fault}`;
        const aborted = res.writableFinished || entry.fault !== undefined ? '' : ' aborted';
        const capped = entry.capped === true ? ' capped' : '';
        log?.(
          `${entry.method} ${entry.url} ${entry.status} ${entry.bytesSent}B ${Math.round(performance.now() - started)}ms${fault}${capped}${aborted}`,
        );
      });
      return {
        head(status) {
          entry.status = status;
        },
        sent(bytes) {
          entry.bytesSent += bytes;
        },
        faulted(kind) {
          entry.fault = kind;
        },
        capped() {
          entry.capped = true;
        },
      };
    },
  };
}
