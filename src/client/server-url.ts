/** Where a server is: the default address, and the service root every route hangs off. */

/** The server used when none is given: `modeldeck serve`'s default address. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8000';

/**
 * The service root of a base URL: trailing slashes and a trailing `/v1` removed, since `/load_model` lives at the
 * root even when users give the OpenAI-style `…/v1` base.
 */
export function serviceRoot(baseUrl: string): string {
  return baseUrl.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}
