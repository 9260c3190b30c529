/**
 * What a mirror is told ({@link MirrorOptions}), and the checks that turn it into what its handlers use. An option
 * it cannot use is a {@link MirrorError} (`MD_MIRROR_OPTIONS`), thrown by `startMirror` or the setter given it.
 */
import { createSecretCheck } from '../common/auth.js';
import { LocalError } from '../common/local-errors.js';
import type { EdgeCap } from './edges.js';
import { globToRegExp, type MirrorFault } from './faults.js';
import { MAX_URL_TTL_SECONDS } from './signed-url.js';

/** Who may read gated repositories: one bearer token, for every repository or only those matching `repos` (globs). */
export interface TokenRequirement {
  readonly token: string;
  /** Repository ids (`org/name`, globs allowed) that need the token. Default: all. */
  readonly repos?: readonly string[];
}

/**
 * Tokens and gating answered as the Hub answers them. A bearer token that is not one of `tokens` gets 401 "Invalid
 * credentials in Authorization header" on every request. A missing repository is a 401 `RepoNotFound` without a token
 * (the Hub does not tell missing from private to strangers) and a 404 with a valid one. A gated repository is a 401
 * `GatedRepo` without a token and a 403 `GatedRepo` with a valid token it is not granted to.
 */
export interface MirrorAuth {
  /** The valid tokens; a token's `grants` (repository globs) are the gated repositories it may read, absent: all. */
  readonly tokens: readonly (string | { readonly token: string; readonly grants?: readonly string[] })[];
  /** Gated repositories, `org/name` globs. Default: none. */
  readonly gated?: readonly string[];
}

/** How a mirror serves. */
export interface MirrorOptions {
  /** Directory holding `{org}/{name}[@{revision}]/…`. */
  readonly root: string;
  /** Bytes per second per response, applied to every body; 0 or absent means unlimited. */
  readonly throttle?: number;
  /** Bytes per second for all responses together (the link); 0 or absent means unlimited. */
  readonly linkThrottle?: number;
  /** Faults to inject from the start (see {@link MirrorFault}). */
  readonly faults?: readonly MirrorFault[];
  /**
   * Require `Authorization: Bearer <token>`: without it, 401 with `X-Error-Code: GatedRepo`; with another token, 403.
   */
  readonly requireToken?: string | TokenRequirement;
  /** Hub-like tokens and gating (see {@link MirrorAuth}); not with `requireToken`. */
  readonly auth?: MirrorAuth;
  /** Receives one line per finished request (method, URL, status, bytes, milliseconds, fault, a capped edge). */
  readonly log?: (line: string) => void;
  /** Files this size or larger are listed with an `lfs` member, in bytes. Default 10 MiB, as the Hub. */
  readonly lfsThreshold?: number;
  /**
   * Tree listings hold at most this many entries a page, the rest behind `Link: <…&cursor=N>; rel="next"`, as the
   * Hub's (1,000 a page). Default: unpaginated.
   */
  readonly pageSize?: number;
  /**
   * Answer `resolve` requests for large (LFS) files with a 302 to a second origin, as the Hub's Xet bridge redirects
   * to cas-bridge.xethub.hf.co: only the 302 carries `X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size` and
   * `X-Xet-Hash`; its `Location` is signed and expires ({@link MirrorOptions.urlTtl}); the CDN answers the bytes (with
   * `Range`) without those headers, refuses an expired or tampered URL with a 403 and a request that carries
   * `Authorization` with a 400 (as S3 does). `true` starts the CDN on the mirror's host and a free port; `{ port }`
   * picks its port; `{ url }` redirects to that origin without starting a listener (a CDN that is elsewhere, or
   * unreachable).
   */
  readonly redirectLarge?: boolean | { readonly port?: number } | { readonly url: string };
  /**
   * Lifetime of the CDN URLs the 302s hand out, in whole seconds (1 to 604800). Default 3600, as the Hub's. A short
   * one makes a URL expire in the middle of a slow download.
   */
  readonly urlTtl?: number;
  /** Some CDN edges are slow (see {@link EdgeCap}). Default: none. */
  readonly edgeCap?: EdgeCap;
  /** Clock of the signed URLs, in milliseconds since the epoch (default `Date.now`); injected in tests. */
  readonly now?: () => number;
}

/** The mirror cannot start, or was given an option it cannot use; `code` says which. */
export class MirrorError<
  C extends 'MD_MIRROR_ROOT' | 'MD_MIRROR_OPTIONS' = 'MD_MIRROR_ROOT' | 'MD_MIRROR_OPTIONS',
> extends LocalError<C> {
  override readonly name = 'MirrorError';
}

/** The origin of `redirectLarge.url`, an http(s) URL. */
export function checkCdnUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MirrorError('MD_MIRROR_OPTIONS', `redirectLarge.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new MirrorError('MD_MIRROR_OPTIONS', `redirectLarge.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  return parsed.origin;
}

/** A throttle is a number of bytes per second, 0 or more (0: unlimited). */
export function checkThrottle(bytesPerSecond: number): void {
  if (!(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0)) {
    throw new MirrorError(
      'MD_MIRROR_OPTIONS',
      `throttle must be a number of bytes per second >= 0, got ${String(bytesPerSecond)}`,
    );
  }
}

/** A URL lifetime is a whole number of seconds from 1 to {@link MAX_URL_TTL_SECONDS}. */
export function checkUrlTtl(seconds: number): number {
  if (!(Number.isSafeInteger(seconds) && seconds >= 1 && seconds <= MAX_URL_TTL_SECONDS)) {
    throw new MirrorError(
      'MD_MIRROR_OPTIONS',
      `urlTtl must be a whole number of seconds from 1 to ${MAX_URL_TTL_SECONDS}, got ${String(seconds)}`,
    );
  }
  return seconds;
}

/** An edge cap has a rate above 0 and a whole `every` of 1 or more; `undefined` is no cap. */
export function checkEdgeCap(cap: EdgeCap | undefined): EdgeCap | undefined {
  if (cap === undefined) return undefined;
  if (!(Number.isFinite(cap.bytesPerSecond) && cap.bytesPerSecond > 0)) {
    throw new MirrorError(
      'MD_MIRROR_OPTIONS',
      `edgeCap.bytesPerSecond must be a number of bytes per second > 0, got ${String(cap.bytesPerSecond)}`,
    );
  }
  if (cap.every !== undefined && !(Number.isSafeInteger(cap.every) && cap.every >= 1)) {
    throw new MirrorError('MD_MIRROR_OPTIONS', `edgeCap.every must be a whole number >= 1, got ${String(cap.every)}`);
  }
  return cap;
}

/** A page size is a whole number of entries, 1 or more. */
export function checkPageSize(pageSize: number | undefined): number | undefined {
  if (pageSize === undefined) return undefined;
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1))
    throw new MirrorError('MD_MIRROR_OPTIONS', `pageSize must be a whole number >= 1, got ${String(pageSize)}`);
  return pageSize;
}

/** Hub-like tokens and gating, checked: what {@link MirrorAuth} says, as a lookup. */
export interface HubAuth {
  /** The grants of a valid token (globs as RegExps; `undefined`: every gated repository), or `false` if invalid. */
  readonly grantsOf: (token: string) => readonly RegExp[] | undefined | false;
  readonly gated: readonly RegExp[];
}

/** {@link MirrorOptions.auth}, checked (not with `requireToken`), as the lookup handlers use. */
export function normaliseAuth(auth: MirrorAuth | undefined, requireToken: unknown): HubAuth | undefined {
  if (auth === undefined) return undefined;
  if (requireToken !== undefined) throw new MirrorError('MD_MIRROR_OPTIONS', 'give auth or requireToken, not both');
  const tokens = auth.tokens.map((entry) => {
    const { token, grants } = typeof entry === 'string' ? { token: entry, grants: undefined } : entry;
    if (typeof token !== 'string' || token === '')
      throw new MirrorError('MD_MIRROR_OPTIONS', 'auth.tokens must be non-empty strings');
    return { isToken: createSecretCheck(token), grants: grants?.map(globToRegExp) };
  });
  return {
    grantsOf(given) {
      const found = tokens.find((entry) => entry.isToken(given));
      return found === undefined ? false : found.grants;
    },
    gated: (auth.gated ?? []).map(globToRegExp),
  };
}

/** {@link MirrorOptions.requireToken}, checked: whether a token is the one, and which repositories need it. */
export interface TokenCheck {
  readonly isToken: (given: string) => boolean;
  readonly repos: readonly RegExp[] | undefined;
}

/** {@link MirrorOptions.requireToken}, checked, as the check handlers use. */
export function normaliseToken(requirement: MirrorOptions['requireToken']): TokenCheck | undefined {
  if (requirement === undefined) return undefined;
  const { token, repos } = typeof requirement === 'string' ? { token: requirement, repos: undefined } : requirement;
  if (typeof token !== 'string' || token === '')
    throw new MirrorError('MD_MIRROR_OPTIONS', 'requireToken needs a non-empty token');
  return { isToken: createSecretCheck(token), repos: repos?.map(globToRegExp) };
}
