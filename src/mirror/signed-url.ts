/**
 * Signed, expiring URLs for the mirror's CDN origin, as the Hub's Xet bridge and its CloudFront CDN hand them out:
 * the query carries an expiry time and an HMAC of the path and that time, so the URL itself is the permission (no
 * token travels to the CDN) and stops working when it expires. The secret is the mirror's own, made when it starts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The query parameter holding the expiry, in whole seconds since the epoch (CloudFront's name for it). */
export const EXPIRES_PARAM = 'Expires';
/** The query parameter holding the signature: hex HMAC-SHA256 of `{path}\n{expires}`. */
export const SIGNATURE_PARAM = 'Signature';

/** Longest lifetime a signed URL may be given, in seconds: seven days, as S3's presigned URLs. */
export const MAX_URL_TTL_SECONDS = 7 * 24 * 3600;
/** Lifetime of a signed URL unless told otherwise, in seconds: the hour the Hub's bridge URLs live. */
export const DEFAULT_URL_TTL_SECONDS = 3600;

/**
 * What the CDN makes of a request's signature.
 *
 * - `valid`: signed by this mirror for this path, not expired.
 * - `missing`: no `Expires` or `Signature` in the query.
 * - `mismatch`: the signature is not this mirror's for this path and expiry (tampered, or another mirror's).
 * - `expired`: a genuine signature whose time has passed.
 */
export type SignatureCheck = 'valid' | 'missing' | 'mismatch' | 'expired';

/** Signs and checks the CDN's URLs. */
export interface UrlSigner {
  /** The query (`Expires=…&Signature=…`, no `?`) that makes `pathname` (as sent, still encoded) valid for the TTL. */
  sign(pathname: string): string;
  /** Checks the query of a request for `pathname` (as received, still encoded). */
  check(pathname: string, query: URLSearchParams): SignatureCheck;
}

/** Options of {@link createUrlSigner}. */
export interface UrlSignerOptions {
  /** Lifetime of a URL signed now, in seconds; read at each signing, so a change applies to the next URL. */
  readonly ttlSeconds: () => number;
  /** Clock in milliseconds since the epoch (default `Date.now`); injected in tests. */
  readonly now?: () => number;
  /** The HMAC key (default 32 random bytes). */
  readonly secret?: Buffer;
}

/**
 * Creates a signer. A URL signed at time `t` with a TTL of `n` seconds is valid until `ceil(t + n)` seconds, so it
 * lives at least `n` seconds; the CDN checks the time when a request arrives (a body already being sent is not cut
 * when its URL expires, as on S3 and CloudFront).
 */
export function createUrlSigner(options: UrlSignerOptions): UrlSigner {
  const secret = options.secret ?? randomBytes(32);
  const now = options.now ?? Date.now;
  const mac = (pathname: string, expires: string): Buffer =>
    createHmac('sha256', secret).update(`${pathname}\n${expires}`).digest();
  return {
    sign(pathname) {
      const expires = String(Math.ceil((now() + options.ttlSeconds() * 1000) / 1000));
      return `${EXPIRES_PARAM}=${expires}&${SIGNATURE_PARAM}=${mac(pathname, expires).toString('hex')}`;
    },
    check(pathname, query) {
      const expires = query.get(EXPIRES_PARAM);
      const signature = query.get(SIGNATURE_PARAM);
      if (expires === null || signature === null) return 'missing';
      if (!/^\d{1,15}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return 'mismatch';
      if (!timingSafeEqual(Buffer.from(signature, 'hex'), mac(pathname, expires))) return 'mismatch';
      return now() >= Number(expires) * 1000 ? 'expired' : 'valid';
    },
  };
}
