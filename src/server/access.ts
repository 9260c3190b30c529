/**
 * The server's guard: every route must have a row of the protocol's access table (src/protocol/access.ts), and on a
 * server with keys every request is let through only with a key that may use its route. The full key (`--api-key`)
 * may use every route, a watch key (`--watch-key`) only the reading ones; `/health` needs none.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { accessKeysOf, createKeyRing, parseBearer, type AccessKeys } from '../common/auth.js';
import { ROUTE_ACCESS, keyMay, routeAccess, unmatchedNeeds, type Permission } from '../protocol/access.js';
import { sendError } from './error-reply.js';

/**
 * Guards the routes of `app`: each needs a row of the access table ({@link requireAccessRows}), and with an `apiKey`
 * every request needs a key that may use its route ({@link guardAccess}). Call before any route is registered.
 * @throws KeyError for keys that cannot be used (src/common/auth.ts), naming the option, never the key.
 */
export function guardRoutes(app: FastifyInstance, options: KeyOptions): void {
  const keys = serverKeys(options);
  requireAccessRows(app);
  if (keys !== undefined) guardAccess(app, keys);
}

/** The keys a server is given (`serve --api-key`, `--watch-key`). */
interface KeyOptions {
  readonly apiKey?: string;
  readonly watchKeys?: readonly string[];
}

/** The server's keys as the key ring takes them, or `undefined` for a server without keys. */
function serverKeys(options: KeyOptions): AccessKeys | undefined {
  return accessKeysOf(
    options.apiKey === undefined ? undefined : { key: options.apiKey, source: 'apiKey' },
    (options.watchKeys ?? []).map((key, i) => ({ key, source: `watchKeys[${i}]` })),
  );
}

/**
 * Whether a request carries one of the server's keys (either kind, compared in constant time), for the connection
 * cap's room for clients that hold a key (`http-limits.ts`); `undefined` for a server without keys.
 */
export function keyHolder(options: KeyOptions): ((request: FastifyRequest) => boolean) | undefined {
  const keys = serverKeys(options);
  if (keys === undefined) return undefined;
  const identify = createKeyRing(keys);
  return (request) => {
    const given = parseBearer(request.headers.authorization);
    return given !== undefined && identify(given) !== undefined;
  };
}

/**
 * Refuses to register a route without a row of {@link ROUTE_ACCESS}, so that no route can be added and forgotten by
 * the guard; call before any route is registered.
 */
function requireAccessRows(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (routeAccess(method, route.url) === undefined) {
        throw new TypeError(
          `${method} ${route.url} has no row in ROUTE_ACCESS (src/protocol/access.ts): say which key may use it`,
        );
      }
    }
  });
}

/**
 * Guards every request with `keys`: 401 without a key of the server, 403 (`PERMISSION_DENIED`) for a watch key on a
 * route that needs the full key. The key is checked before anything else of the request (its method, its body), so a
 * client without the right key learns nothing about its input, and a `GET` on a write route tells a client what its
 * key may do without acting: 401, 403, or the 405 of a key that passed.
 */
function guardAccess(app: FastifyInstance, keys: AccessKeys): void {
  const identify = createKeyRing(keys);
  app.addHook('onRequest', async (request, reply) => {
    const { needs, route } = needsOf(request);
    if (needs === 'open') return undefined;
    const given = parseBearer(request.headers.authorization);
    if (given === undefined) {
      return sendError(
        reply,
        'MISSING_API_KEY',
        'this server requires an API key: send the header "Authorization: Bearer <key>"',
      );
    }
    const kind = identify(given);
    if (kind === undefined) return sendError(reply, 'INVALID_API_KEY', 'the API key is not valid for this server');
    if (!keyMay(kind, needs)) return sendError(reply, 'PERMISSION_DENIED', refusal(route, needs));
    return undefined;
  });
}

/** What `request` needs, and how a message names its route (`POST /load_model`, or a path asked with another method). */
function needsOf(request: FastifyRequest): { needs: Permission; route: string } {
  const path = request.url.split('?', 1)[0] ?? '';
  const row = request.is404 ? undefined : routeAccess(request.method, request.routeOptions.url ?? '');
  if (row !== undefined) return { needs: row.needs, route: `${row.method} ${row.path}` };
  return { needs: unmatchedNeeds(path), route: path };
}

/** The 403's message: the route, the permission it needs, and what a watch key may use instead. */
function refusal(route: string, needs: Permission): string {
  const reading = ROUTE_ACCESS.filter((row) => keyMay('watch', row.needs)).map((row) => `${row.method} ${row.path}`);
  return (
    `this key may only read (a watch key: ${reading.join(', ')}); ` +
    `${route} needs the "${needs}" permission, which only the server's full key (--api-key) has`
  );
}
