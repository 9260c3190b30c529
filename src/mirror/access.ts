/**
 * Who may read what: the token of `requireToken`, and the Hub's tokens and gating (`auth`), answered as the Hub
 * answers them (401 and 403 with `GatedRepo`, 401 for a token that is not one).
 */
import { parseBearer } from '../common/auth.js';
import { sendError, type Exchange } from './exchange.js';

/** Who asks, under `MirrorOptions.auth`: `undefined` without auth, `anonymous` without a token, or a token's grants. */
export type Caller = undefined | 'anonymous' | { readonly grants: readonly RegExp[] | undefined };

/** The {@link Caller} of this request; an invalid token is answered (401) and gives `refused`. */
export function hubCaller(x: Exchange): Caller | 'refused' {
  const auth = x.context.hubAuth;
  if (auth === undefined) return undefined;
  const given = parseBearer(x.req.headers.authorization);
  if (given === undefined) return 'anonymous';
  const grants = auth.grantsOf(given);
  if (grants === false) {
    sendError(x, 401, undefined, 'Invalid credentials in Authorization header');
    return 'refused';
  }
  return { grants };
}

/** The Hub's answer to a gated repository: 401 without a token, 403 with one not granted access. */
function sendGated(x: Exchange, repo: string, why: 'anonymous' | 'not granted'): void {
  if (why === 'anonymous') {
    sendError(
      x,
      401,
      'GatedRepo',
      `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
    );
  } else {
    sendError(
      x,
      403,
      'GatedRepo',
      `Access to model ${repo} is restricted and you are not in the authorized list. Visit https://huggingface.co/${repo} to ask for access.`,
    );
  }
}

/** Under `MirrorOptions.auth`, answer a gated repository the caller may not read; true if answered. */
export function refuseGated(x: Exchange, repo: string, caller: Caller): boolean {
  const auth = x.context.hubAuth;
  if (auth === undefined || caller === undefined || !auth.gated.some((pattern) => pattern.test(repo))) return false;
  if (caller === 'anonymous') {
    sendGated(x, repo, 'anonymous');
    return true;
  }
  if (caller.grants !== undefined && !caller.grants.some((pattern) => pattern.test(repo))) {
    sendGated(x, repo, 'not granted');
    return true;
  }
  return false;
}

/**
 * Under `MirrorOptions.requireToken`, answer a caller without the token (401) or with another (403); true if
 * answered.
 */
export function refuseWithoutToken(x: Exchange, repo: string): boolean {
  const auth = x.context.auth;
  if (auth === undefined) return false;
  if (auth.repos !== undefined && !auth.repos.some((pattern) => pattern.test(repo))) return false;
  const given = parseBearer(x.req.headers.authorization);
  if (given === undefined) {
    sendGated(x, repo, 'anonymous');
    return true;
  }
  if (!auth.isToken(given)) {
    sendGated(x, repo, 'not granted');
    return true;
  }
  return false;
}
