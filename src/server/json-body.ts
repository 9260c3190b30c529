/**
 * The JSON body parser: Fastify's own (which refuses `__proto__` and `constructor.prototype` keys, the keys of
 * prototype pollution), with a message that names the refused key instead of calling valid JSON invalid.
 */

import type { FastifyInstance } from 'fastify';

/** A body that is valid JSON but holds a key the server refuses. */
class ForbiddenKeyError extends Error {
  override readonly name = 'ForbiddenKeyError';
  readonly statusCode = 400;
  constructor(path: string) {
    super(`the JSON body has the key '${path}', which is refused (it could change object prototypes): remove it`);
  }
}

/** The path of the first `__proto__` key, or `constructor` key holding `prototype`, in `value`; undefined if none. */
export function forbiddenKeyPath(value: unknown, path = ''): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = forbiddenKeyPath(item, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const here = path === '' ? key : `${path}.${key}`;
    const child = (value as Record<string, unknown>)[key];
    if (key === '__proto__') return here;
    if (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype')) {
      return `${here}.prototype`;
    }
    const found = forbiddenKeyPath(child, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Replaces the `application/json` parser of `app` (call before the routes). */
export function useJsonBodyParser(app: FastifyInstance): void {
  const strict = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    strict(request, body as string, (error: Error | null, value?: unknown) => {
      if (error === null) return done(null, value);
      // Only a body that plain JSON.parse accepts can have failed for a forbidden key; anything else keeps
      // Fastify's error (invalid or empty JSON).
      let parsed: unknown;
      try {
        parsed = JSON.parse(body as string);
      } catch {
        return done(error, undefined);
      }
      const path = forbiddenKeyPath(parsed);
      return done(path === undefined ? error : new ForbiddenKeyError(path), undefined);
    });
  });
}
