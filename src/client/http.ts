/**
 * What every request of the client shares: its headers, failures in words for a refused or broken connection or an
 * HTTP error status, and for a streamed request an answer that is not an event stream.
 */

import type { RawFrame } from './frames.js';
import { BAD_PORT_CODE, errorBodyMessage, type Failure } from './failures.js';
import { serviceRoot } from './server-url.js';

/** Options shared by every streamed request. */
export interface RequestOptions {
  /** The server's base URL (`http://host:port`, or with `/v1`). */
  readonly server: string;
  /** Sent as `Authorization: Bearer …` when set. */
  readonly apiKey?: string | undefined;
  readonly signal?: AbortSignal;
  /** Injected for tests and other platforms; defaults to the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Every frame as received, and notes about the connection (status lines, error bodies). */
  readonly onFrame?: (frame: RawFrame) => void;
}

/** The headers of a JSON POST that wants `accept` back, with the bearer key when there is one. */
export function headersFor(apiKey: string | undefined, accept: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept,
    ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  };
}

/** Plain words for the socket error codes fetch reports; the code itself follows, for whoever reads logs. */
const NETWORK_CODE_WORDS: Readonly<Record<string, string>> = {
  UND_ERR_SOCKET: 'the server closed the connection',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server sent no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

/** A thrown fetch or read error as a `network` failure, `phase` saying what was being done. */
export function networkFailure(error: unknown, phase: string): Failure {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  // undici refuses the Fetch standard's blocked ports (6000, 6665–6669, …) before connecting, with no error code.
  if (cause?.message === 'bad port') {
    return {
      kind: 'network',
      code: BAD_PORT_CODE,
      message: `${phase}: the port is refused by Node's HTTP client (fetch's "bad port" blocklist; it never connects there)`,
    };
  }
  const code = cause?.code;
  const words = code === undefined ? undefined : NETWORK_CODE_WORDS[code];
  const detail = words !== undefined ? `${words} (${code})` : (code ?? cause?.message ?? err?.message ?? String(error));
  return { kind: 'network', message: `${phase}: ${detail}` };
}

/** True when `error` is the caller's own abort. */
export function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error as Error)?.name === 'AbortError';
}

/** The failure of a request the caller aborted. */
export const ABORTED_FAILURE: Failure = { kind: 'aborted', message: 'closed' };

/** A non-2xx answer as an `http` failure: its status line, and the message and code of its error body if any. */
export function httpFailure(response: Response, body: string): Failure {
  const { message, code } = errorBodyMessage(body);
  const reason = response.statusText ? `${response.status} ${response.statusText}` : String(response.status);
  return {
    kind: 'http',
    status: response.status,
    message: `HTTP ${reason}${message ? `: ${message}` : ''}`,
    ...(code !== undefined ? { code } : {}),
  };
}

/** A non-2xx or non-event-stream answer as a failure (its body read and logged), or undefined for a good stream. */
export async function refuseNonStream(response: Response, options: RequestOptions): Promise<Failure | undefined> {
  const type = response.headers.get('content-type') ?? '';
  if (response.ok && type.startsWith('text/event-stream')) return undefined;
  const text = await response.text().catch(() => '');
  options.onFrame?.({ kind: 'other', raw: `HTTP ${response.status} ${type} ${text}`.trim() });
  if (!response.ok) return httpFailure(response, text);
  return {
    kind: 'protocol',
    message: `the server answered ${response.status} with "${type || 'no content type'}", not an event stream`,
  };
}

/** What {@link postForEventStream} resolves: the event stream's answer, or why there is none. */
export type EventStreamAnswer =
  { readonly ok: true; readonly response: Response } | { readonly ok: false; readonly failure: Failure };

/**
 * POSTs `body` as JSON to `path` of the options' server, asking for an event stream. Resolves the answer when it is
 * one; a caller's abort, a network error, a non-2xx or a non-event-stream answer become the failure. Never throws.
 */
export async function postForEventStream(
  path: string,
  body: unknown,
  options: RequestOptions,
): Promise<EventStreamAnswer> {
  const doFetch = options.fetch ?? fetch;
  const root = serviceRoot(options.server);
  let response: Response;
  try {
    response = await doFetch(`${root}${path}`, {
      method: 'POST',
      headers: headersFor(options.apiKey, 'text/event-stream'),
      body: JSON.stringify(body),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
  const early = await refuseNonStream(response, options);
  return early ? { ok: false, failure: early } : { ok: true, response };
}
