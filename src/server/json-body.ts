/**
 * The JSON body parser: Fastify's own (which refuses `__proto__` and `constructor.prototype` keys, the keys of
 * prototype pollution), with a message that names the refused key instead of calling valid JSON invalid.
 */

import type { FastifyInstance } from 'fastify';

/** A body that is valid JSON but holds a key the server refuses. */
class ForbiddenKeyError extends Error {
  override readonly name = 'ForbiddenKeyError';
  readonly statusCode = 400;
  constructor(path: readonly PathSegment[]) {
    const depth = path.length > SHOWN_SEGMENTS ? ` (${path.length.toLocaleString('en')} levels deep)` : '';
    super(
      `the JSON body has the key '${showPath(path)}'${depth}, which is refused (it could change object prototypes): ` +
        'remove it',
    );
  }
}

/** One step of a path into a JSON value: an object's key or an array's index. */
type PathSegment = string | number;

/** A value met while walking a body, with the way it was reached (kept as links, so no path is built until needed). */
interface Visit {
  readonly value: unknown;
  readonly parent: Visit | undefined;
  readonly segment: PathSegment | undefined;
}

/**
 * The path of the first `__proto__` key, or `constructor` key holding `prototype`, in `value`; undefined if none. The
 * walk keeps its own stack instead of recursing, so a body nested 100,000 levels deep (which fits in 1 MiB) is read
 * like any other instead of overflowing the call stack.
 */
function forbiddenKeyPath(value: unknown): PathSegment[] | undefined {
  const stack: Visit[] = [{ value, parent: undefined, segment: undefined }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const here = visit.value;
    if (here === null || typeof here !== 'object') continue;
    const children: Visit[] = [];
    if (Array.isArray(here)) {
      for (const [i, item] of here.entries()) children.push({ value: item, parent: visit, segment: i });
    } else {
      for (const key of Object.keys(here)) {
        const child = (here as Record<string, unknown>)[key];
        const next: Visit = { value: child, parent: visit, segment: key };
        if (key === '__proto__') return pathOf(next);
        if (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype')) {
          return [...pathOf(next), 'prototype'];
        }
        children.push(next);
      }
    }
    // Pushed last first, so the walk reads the body in its own order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Visit);
  }
  return undefined;
}

function pathOf(visit: Visit): PathSegment[] {
  const path: PathSegment[] = [];
  for (let at: Visit | undefined = visit; at?.segment !== undefined; at = at.parent) path.push(at.segment);
  return path.reverse();
}

/** Segments of a path shown in full; a longer one shows its first and last few around an ellipsis. */
const SHOWN_SEGMENTS = 16;

/** `messages[0].content`, or for a deep path `x.a.a.a.a.a.a.a….a.a.a.a.a.__proto__`. */
function showPath(path: readonly PathSegment[]): string {
  const shown = path.map((segment, i) => {
    if (typeof segment === 'number') return `[${segment}]`;
    return i === 0 ? segment : `.${segment}`;
  });
  if (shown.length <= SHOWN_SEGMENTS) return shown.join('');
  return `${shown.slice(0, SHOWN_SEGMENTS / 2).join('')}…${shown.slice(-SHOWN_SEGMENTS / 2 + 2).join('')}`;
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
