/**
 * The hub client's `openFile`: one file's download, `GET {hubUrl}/{id}/resolve/{revision}/{path}` by `node:http`
 * (`hub-transport.ts`), through redirects to a CDN; or, for the later parts of a file, the CDN's signed URL the first
 * answer came from, asked directly (one hub request per file, not per part, as hf_transfer does). Not retried here:
 * the downloader retries parts.
 */

import { LoadError } from '../loader-types.js';
import type { ByteRange, FileResponse, RepoRef } from './hub-client.js';
import { request, type HubContext } from './hub-request.js';
import { httpHop, type Hop, type HttpAnswer } from './hub-transport.js';

/**
 * A signed URL asked directly answered `403` or `410`: its signature expired (or was revoked). Not a failure of the
 * download: the hub is asked for a fresh one.
 */
export class LinkExpired extends LoadError {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super('HUB_ERROR', `${new URL(url).origin} answered HTTP ${status} to a signed URL: it expired; ask the hub again`);
  }
}

/**
 * Starts downloading `path` (only `range` of it, when given); resolves once the `200` or `206` headers arrived. With
 * `at`, that URL (an earlier answer's) is asked instead of the hub, and a `403` or `410` from it is a
 * {@link LinkExpired}.
 */
export function openFile(
  hub: HubContext,
  ref: RepoRef,
  path: string,
  signal?: AbortSignal,
  range?: ByteRange,
  at?: string,
): Promise<FileResponse> {
  const headers = {
    // `identity`: byte counts must be the file's own, compared with Content-Length and the listing size.
    'Accept-Encoding': 'identity',
    ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
  };
  const url = at ?? fileUrl(hub.hubUrl, ref, path);
  return request(hub, { url, headers, signal, ref, what: path }, at === undefined ? httpHop : expiringHop(at));
}

/** {@link httpHop}, with a `403` or `410` from `signed` itself thrown as {@link LinkExpired}. */
function expiringHop(signed: string): Hop<HttpAnswer> {
  return async (url, headers, signal) => {
    const answer = await httpHop(url, headers, signal);
    if (url === signed && (answer.status === 403 || answer.status === 410)) {
      await answer.discard();
      throw new LinkExpired(url, answer.status);
    }
    return answer;
  };
}

/** `{hubUrl}/{id}/resolve/{revision}/{path}`, with the revision and each path segment URL-encoded. */
export function fileUrl(hubUrl: string, ref: RepoRef, path: string): string {
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${hubUrl}/${ref.id}/resolve/${encodeURIComponent(ref.revision)}/${encodedPath}`;
}
