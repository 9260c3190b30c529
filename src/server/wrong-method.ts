/**
 * A request for a route that exists with another method gets `405 Method Not Allowed` with the `Allow` header, not a
 * 404 that says the route does not exist.
 */

import type { FastifyInstance } from 'fastify';
import { sendError } from './error-reply.js';

/** Records the routes of `app` and answers wrong methods on them; call before the routes are registered. */
export function answerWrongMethods(app: FastifyInstance): void {
  const methods = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const set = methods.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) set.add(method);
    methods.set(route.url, set);
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return undefined;
    const path = request.url.split('?', 1)[0] ?? '';
    const allowed = methods.get(path);
    if (allowed === undefined) return undefined;
    const allow = [...allowed].sort().join(', ');
    reply.header('allow', allow);
    return sendError(reply, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}: use ${allow}`);
  });
}
