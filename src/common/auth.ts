/**
 * Bearer credentials, for every HTTP server of modeldeck (the model server's API key, the mirror's hub token): one
 * way to read `Authorization: Bearer <token>`, and one constant-time comparison.
 */

import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, spaces or tabs around the token),
 * or `undefined` when the header is absent, uses another scheme, or carries no single token.
 */
export function parseBearer(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * A check of given secrets against `expected`, in constant time: both sides are hashed first, so the comparison
 * takes as long whatever the given secret is, and leaks neither the secret nor its length.
 */
export function createSecretCheck(expected: string): (given: string) => boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  const want = digest(expected);
  return (given) => timingSafeEqual(digest(given), want);
}
