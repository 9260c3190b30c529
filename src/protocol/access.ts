/**
 * Which key may use which route of a modeldeck server: the one table of its routes, each with the permission it
 * needs. The server guards every request by it (src/server/access.ts, which also refuses to register a route that has
 * no row here), `modeldeck check` probes every row, and docs/protocol.md documents it.
 *
 * A server may have one full key (`serve --api-key`), which opens every route, and any number of watch keys
 * (`serve --watch-key`), which open only the routes that read: watching a fleet must not be able to change it.
 */

/**
 * What a route needs: `open`, no key even on a server with keys (a load balancer's health check has none); `watch`,
 * any key of the server (the routes that only read); `full`, the server's full key (`--api-key`).
 */
export type Permission = 'open' | 'watch' | 'full';

/** A key a server accepts: a watch key (`--watch-key`) reads; the full key (`--api-key`) may do everything. */
export type KeyKind = 'watch' | 'full';

/** One route and the permission it needs. */
export interface RouteAccess {
  readonly method: 'GET' | 'POST';
  /** The path, as the server registers it. */
  readonly path: string;
  readonly needs: Permission;
}

/**
 * Every route of the server. A new route must have a row: the server refuses to register one that has none, and
 * a test holds this table and the registered routes to each other. Reading routes count as `watch` only when they
 * change nothing (watching costs nothing, and never counts as use of a model).
 */
export const ROUTE_ACCESS: readonly RouteAccess[] = [
  { method: 'GET', path: '/health', needs: 'open' },
  { method: 'GET', path: '/ready', needs: 'open' },
  { method: 'GET', path: '/v1/models', needs: 'watch' },
  { method: 'GET', path: '/events', needs: 'watch' },
  { method: 'GET', path: '/metrics', needs: 'watch' },
  { method: 'GET', path: '/cache', needs: 'watch' },
  { method: 'POST', path: '/load_model', needs: 'full' },
  { method: 'POST', path: '/unload_model', needs: 'full' },
  { method: 'POST', path: '/reset', needs: 'full' },
  { method: 'POST', path: '/pull_model', needs: 'full' },
  { method: 'POST', path: '/delete_model', needs: 'full' },
  { method: 'POST', path: '/v1/chat/completions', needs: 'full' },
  { method: 'POST', path: '/v1/completions', needs: 'full' },
];

/** The row of `method` and `path` (a `HEAD` is its `GET`, as HTTP servers answer it), or `undefined`. */
export function routeAccess(method: string, path: string): RouteAccess | undefined {
  const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return ROUTE_ACCESS.find((row) => row.method === wanted && row.path === path);
}

const RANK: Readonly<Record<Permission, number>> = { open: 0, watch: 1, full: 2 };

/**
 * What a request that matches no row needs. A path of the table asked with another method needs the most any of its
 * rows needs, and at least a key (so a wrong method tells a client without a key nothing, and a weaker key cannot
 * learn more from a wrong method than from the route itself); any other path needs a key.
 */
export function unmatchedNeeds(path: string): Permission {
  return ROUTE_ACCESS.filter((row) => row.path === path)
    .map((row) => row.needs)
    .reduce<Permission>((most, needs) => (RANK[needs] > RANK[most] ? needs : most), 'watch');
}

/** True when a key of `kind` may use a route that needs `needs`. */
export function keyMay(kind: KeyKind, needs: Permission): boolean {
  switch (kind) {
    case 'full':
      return true;
    case 'watch':
      return needs !== 'full';
    default: {
      const never: never = kind;
      throw new TypeError(`unknown key kind ${String(never)}`);
    }
  }
}
