/**
 * Bearer credentials, for every HTTP server of modeldeck (the model server's keys, the mirror's hub token): one way to
 * read `Authorization: Bearer <token>`, one check of a key as given, and constant-time comparisons.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyKind } from '../protocol/access.js';
import { LocalError } from './local-errors.js';

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, spaces or tabs around the token),
 * or `undefined` when the header is absent, uses another scheme, or carries no single token.
 */
export function parseBearer(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/** The SHA-256 of a secret: every comparison is between equal-length digests, whatever the lengths of the secrets. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * A check of given secrets against `expected`, in constant time: both sides are hashed first, so the comparison
 * takes as long whatever the given secret is, and leaks neither the secret nor its length.
 */
export function createSecretCheck(expected: string): (given: string) => boolean {
  const want = digest(expected);
  return (given) => timingSafeEqual(digest(given), want);
}

/** A model server's keys: the full key opens every route; each watch key opens the routes that only read. */
export interface AccessKeys {
  readonly full: string;
  readonly watch: readonly string[];
}

/**
 * Which of `keys` a given secret is, or `undefined` for none. Every key is compared, in constant time, whatever
 * matched first: how long the answer takes tells neither which key matched nor how many there are to try.
 */
export function createKeyRing(keys: AccessKeys): (given: string) => KeyKind | undefined {
  const ring = [
    { kind: 'full' as const, digest: digest(keys.full) },
    ...keys.watch.map((key) => ({ kind: 'watch' as const, digest: digest(key) })),
  ];
  return (given) => {
    const asked = digest(given);
    let found: KeyKind | undefined;
    for (const entry of ring) {
      if (timingSafeEqual(asked, entry.digest) && found === undefined) found = entry.kind;
    }
    return found;
  };
}

/** A key as given, and where it came from in the words a message uses (`--api-key`, `the 2nd --watch-key`). */
export interface GivenKey {
  readonly key: string;
  readonly source: string;
}

type KeyErrorCode = 'MD_KEY_EMPTY' | 'MD_KEY_CHARACTERS' | 'MD_KEY_REUSED' | 'MD_KEY_WATCH_WITHOUT_FULL';

/** A key that cannot be used (empty, not printable ASCII, given as both kinds, watch keys alone); never shows a key. */
export class KeyError<C extends KeyErrorCode = KeyErrorCode> extends LocalError<C> {
  override readonly name = 'KeyError';
}

/** Checks that `given` can travel in an `Authorization: Bearer` header. @throws KeyError naming its source. */
export function checkKey(given: GivenKey): string {
  const { key, source } = given;
  if (key === '') throw new KeyError('MD_KEY_EMPTY', source);
  const bad = [...key].findIndex((char) => !/^[\x21-\x7e]$/.test(char));
  if (bad >= 0) throw new KeyError('MD_KEY_CHARACTERS', source, bad + 1, [...key].length);
  return key;
}

/**
 * A server's keys from the keys as given: each checked, the watch keys without repeats. `undefined` when there is
 * none. @throws KeyError for a bad key, a watch key that is also the full key, or watch keys without a full key (such
 * a server could never load a model: every route that does would answer 403).
 */
export function accessKeysOf(full: GivenKey | undefined, watch: readonly GivenKey[]): AccessKeys | undefined {
  if (full !== undefined) checkKey(full);
  for (const given of watch) checkKey(given);
  const first = watch[0];
  if (full === undefined) {
    if (first !== undefined) throw new KeyError('MD_KEY_WATCH_WITHOUT_FULL', first.source);
    return undefined;
  }
  const isFull = createSecretCheck(full.key);
  const reused = watch.find((given) => isFull(given.key));
  if (reused !== undefined) throw new KeyError('MD_KEY_REUSED', reused.source, full.source);
  return { full: full.key, watch: [...new Set(watch.map((given) => given.key))] };
}
