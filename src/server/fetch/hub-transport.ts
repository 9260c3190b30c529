/**
 * The two ways a hub request makes one hop (one HTTP exchange, no redirect followed): `fetch` for the API's small
 * JSON answers ({@link fetchHop}), `node:http`/`node:https` for file bodies ({@link httpHop}). `hub-request.ts`'s
 * `request()` drives either through redirects and status errors.
 */

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

import type { FileResponse, HeaderReader } from './hub-client.js';

/** What the redirect loop needs of one answer, whichever transport got it. */
export interface Answer {
  readonly status: number;
  readonly headers: HeaderReader;
  /** Frees the connection without reading the body (beyond a small one). */
  discard(): Promise<void> | void;
}

/** One hop: a GET of `url` with `headers`; rejects with the transport's own error (its `code` on it). */
export type Hop<A extends Answer> = (
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
) => Promise<A>;

/** An answer by fetch, its body unread. */
export interface FetchAnswer extends Answer {
  readonly response: Response;
}

/** An answer by `node:http`, its body unread: what a file download gets. */
export type HttpAnswer = Answer & FileResponse;

/** The hop of API requests, by `doFetch` (bodies are small JSON); redirects are left to `request()`. */
export function fetchHop(doFetch: typeof fetch): Hop<FetchAnswer> {
  return async (url, headers, signal) => {
    const response = await doFetch(url, {
      headers,
      redirect: 'manual',
      ...(signal === undefined ? {} : { signal }),
    });
    return {
      status: response.status,
      headers: response.headers,
      response,
      discard: () => response.body?.cancel().catch(() => undefined),
    };
  };
}

/** Error answers and redirects with a body up to this size are read to their end, so their connection is reused. */
const DRAIN_BYTES = 64 * 1024;

/**
 * The hop of file downloads: a GET by `node:http`/`node:https` (their global agents keep connections alive). Rejects
 * with the request's error (its `code`, such as `ECONNREFUSED`, on it); aborting `signal` destroys the request and a
 * body being read.
 */
export const httpHop: Hop<HttpAnswer> = (url, headers, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const target = new URL(url);
    let body: IncomingMessage | undefined;
    const sent = (target.protocol === 'https:' ? https : http).get(target, { headers }, (answer) => {
      body = answer;
      resolve(httpAnswer(answer, url));
    });
    // Until the request closes (after the body's end, or its destruction): the body being read is stopped too.
    const onAbort = (): void => {
      const error = new Error('the request was aborted', { cause: signal?.reason });
      body?.destroy(error);
      sent.destroy(error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sent.on('close', () => signal?.removeEventListener('abort', onAbort));
    sent.on('error', reject);
  });

function httpAnswer(body: IncomingMessage, url: string): HttpAnswer {
  const cancel = (): void => {
    body.destroy();
  };
  return {
    status: body.statusCode ?? 0,
    headers: {
      get: (name) => {
        const value = body.headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body,
    url,
    cancel,
    discard: () => {
      const length = Number(body.headers['content-length'] ?? Number.NaN);
      if (length <= DRAIN_BYTES) body.resume();
      else cancel();
    },
  };
}
