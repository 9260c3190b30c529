/**
 * `modeldeck check`'s access check: which routes of a server the key it was given may use, or, without a key, whether
 * the server needs one. Every row of the protocol's access table (src/protocol/access.ts) is asked with a `GET`, which
 * changes nothing on any server: a reading route answers it (an event stream is closed as soon as its headers
 * arrive), and a write route, which takes only `POST`, never runs its handler. A modeldeck server checks the key
 * before the method, so a write route's answer to a `GET` says what the key may do: 405 when it may use the route,
 * 403 when it may only read, 401 when the server does not take it.
 */

import { ROUTE_ACCESS, type Permission, type RouteAccess } from '../../protocol/access.js';

/**
 * What one route's answer says of the key: `allowed`, it may use the route; `denied`, 403; `no-key`, 401 (no key, or
 * one the server does not take); `absent`, 404 (a server without the route); `unclear`, any other answer;
 * `no-answer`, none came.
 */
export type AccessVerdict = 'allowed' | 'denied' | 'no-key' | 'absent' | 'unclear' | 'no-answer';

/** One route as the probe found it. */
export interface RouteProbe {
  readonly method: RouteAccess['method'];
  readonly path: string;
  /** What the route needs on a modeldeck server. */
  readonly needs: Permission;
  /** The status of the `GET` that asked it; 0 when no answer came. */
  readonly status: number;
  /** The error code of the answer's body (`PERMISSION_DENIED`), when it had one. */
  readonly code: string | null;
  readonly verdict: AccessVerdict;
}

/** What the probe found, route by route, in the order of the table. */
export interface AccessReport {
  /** Whether the probe sent a key. */
  readonly keyGiven: boolean;
  /**
   * With a key: whether `GET /v1/models` answered without one too (a server without keys takes any key); `null`
   * without a key, or when that route could not tell.
   */
  readonly openWithoutKey: boolean | null;
  readonly routes: readonly RouteProbe[];
}

/** Options of {@link probeAccess}. */
export interface AccessProbeOptions {
  /** The server's service root (no trailing `/v1`). */
  readonly root: string;
  readonly apiKey: string | undefined;
  readonly fetch: typeof fetch;
  /** Longest wait for one answer, in ms. */
  readonly timeoutMs: number;
}

/** Asks every route of the table with a `GET`, one after the other. Never throws: a route without answer says so. */
export async function probeAccess(options: AccessProbeOptions): Promise<AccessReport> {
  const headers: Record<string, string> =
    options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` };
  const routes: RouteProbe[] = [];
  for (const row of ROUTE_ACCESS) {
    const { status, code } = await askWithGet(`${options.root}${row.path}`, headers, options);
    routes.push({
      method: row.method,
      path: row.path,
      needs: row.needs,
      status,
      code,
      verdict: verdictOf(row, status),
    });
  }
  if (options.apiKey === undefined) return { keyGiven: false, openWithoutKey: null, routes };
  const bare = await askWithGet(`${options.root}/v1/models`, {}, options);
  const told = bare.status === 401 || (bare.status >= 200 && bare.status < 300);
  return { keyGiven: true, openWithoutKey: told ? bare.status !== 401 : null, routes };
}

async function askWithGet(
  url: string,
  headers: Record<string, string>,
  options: AccessProbeOptions,
): Promise<{ status: number; code: string | null }> {
  try {
    const response = await options.fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs) });
    if (response.headers.get('content-type')?.toLowerCase().startsWith('text/event-stream')) {
      // A watcher that leaves at once: the feed drops it, and nothing on the server counts it as use.
      await response.body?.cancel();
      return { status: response.status, code: null };
    }
    return { status: response.status, code: errorCodeOf(await response.text()) };
  } catch {
    return { status: 0, code: null };
  }
}

/** The `code` of an `{"error": {"code"}}` body, or `null`. */
function errorCodeOf(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function verdictOf(row: RouteAccess, status: number): AccessVerdict {
  if (status === 0) return 'no-answer';
  if (status === 401) return 'no-key';
  if (status === 403) return 'denied';
  if (status === 404) return 'absent';
  // A reading route serves the GET; a write route serves only POST, so a 405 means the key got past the guard.
  if (row.method === 'GET') return status >= 200 && status < 300 ? 'allowed' : 'unclear';
  return status === 405 ? 'allowed' : 'unclear';
}

/** The access check's verdict, and why the checks that need a key the probe found missing cannot run. */
export interface AccessJudgement {
  readonly status: 'pass' | 'fail' | 'n/a';
  /** One sentence. */
  readonly reason: string;
  /** Why the checks that load, unload or chat cannot run with this key; `undefined` when they can (or may). */
  readonly noWrites: string | undefined;
  /** Why the checks that read (`GET /v1/models`) cannot run with this key; `undefined` when they can (or may). */
  readonly noReads: string | undefined;
}

/** Judges a probe: a 401 is never a pass, a watch key is one (it does what it should), and says what it may use. */
export function judgeAccess(report: AccessReport): AccessJudgement {
  const { routes, keyGiven } = report;
  const guarded = routes.filter((r) => r.needs !== 'open');
  if (routes.every((r) => r.verdict === 'no-answer')) {
    return { status: 'n/a', reason: 'no route answered (see health)', noWrites: undefined, noReads: undefined };
  }
  const gate = (path: string): string | undefined => {
    const probe = routes.find((r) => r.path === path);
    if (probe?.verdict === 'no-key')
      return keyGiven ? 'the server does not take this key (see access)' : 'the server needs a key (see access)';
    if (probe?.verdict === 'denied')
      return `this key may not use ${probe.method} ${probe.path} (403${probe.code ? ` ${probe.code}` : ''}; see access)`;
    return undefined;
  };
  const gates = { noWrites: gate('/load_model'), noReads: gate('/v1/models') };
  const unauthenticated = guarded.filter((r) => r.verdict === 'no-key');
  if (unauthenticated.length > 0) {
    const first = unauthenticated[0] as RouteProbe;
    const answer = `401${first.code ? ` ${first.code}` : ''} on ${first.method} ${first.path}`;
    const reason = keyGiven
      ? `the server refused this key (${answer}): it is not a key of this server`
      : `the server needs an API key and none was given (${answer}): pass --api-key KEY or set MODELDECK_API_KEY`;
    return { status: 'fail', reason, ...gates };
  }
  return { status: 'pass', reason: describeKey(report), ...gates };
}

/** What the key may do, in one sentence: a full key, a watch key, no key needed, or a list. */
function describeKey(report: AccessReport): string {
  const guarded = report.routes.filter((r) => r.needs !== 'open');
  const named = (probes: readonly RouteProbe[]): string => probes.map((r) => `${r.method} ${r.path}`).join(', ');
  const allowed = guarded.filter((r) => r.verdict === 'allowed');
  const denied = guarded.filter((r) => r.verdict === 'denied');
  const other = guarded.filter((r) => r.verdict !== 'allowed' && r.verdict !== 'denied');
  const untold = other.map((r) => `${r.method} ${r.path} ${r.status === 0 ? 'no answer' : r.status}`).join(', ');
  const rest = other.length > 0 ? `; ${other.length} could not be told (${untold})` : '';
  if (denied.length === 0) {
    const open = !report.keyGiven || report.openWithoutKey === true;
    const who = open ? 'the server needs no key' : 'a full key';
    const answered = other.length === 0 ? 'every route' : `${allowed.length} of ${guarded.length} routes`;
    return `${who}: ${answered} answered ${report.keyGiven ? 'it' : 'without one'}${rest}`;
  }
  const watchOnly = denied.every((r) => r.needs === 'full') && allowed.every((r) => r.needs === 'watch');
  const kind = !report.keyGiven
    ? 'without a key'
    : watchOnly
      ? 'a watch key, which may only read'
      : 'a key with some permissions';
  const code = denied[0]?.code ? ` ${denied[0].code}` : '';
  return `${kind}: ${named(allowed) || 'no route'}; ${denied.length} route(s) answered 403${code}${rest}`;
}
