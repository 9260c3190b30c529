/**
 * The hub client's `openFile`: one file's download, `GET {hubUrl}/{id}/resolve/{revision}/{path}` by `node:http`
 * (`hub-transport.ts`), through redirects to a CDN. Not retried here: the downloader retries parts.
 */

import type { ByteRange, FileResponse, RepoRef } from './hub-client.js';
import { request, type HubContext } from './hub-request.js';
import { httpHop } from './hub-transport.js';

/** Starts downloading `path` (only `range` of it, when given); resolves once the `200` or `206` headers arrived. */
export function openFile(
  hub: HubContext,
  ref: RepoRef,
  path: string,
  signal?: AbortSignal,
  range?: ByteRange,
): Promise<FileResponse> {
  const headers = {
    // `identity`: byte counts must be the file's own, compared with Content-Length and the listing size.
    'Accept-Encoding': 'identity',
    ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
  };
  return request(hub, { url: fileUrl(hub.hubUrl, ref, path), headers, signal, ref, what: path }, httpHop);
}

/** `{hubUrl}/{id}/resolve/{revision}/{path}`, with the revision and each path segment URL-encoded. */
export function fileUrl(hubUrl: string, ref: RepoRef, path: string): string {
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${hubUrl}/${ref.id}/resolve/${encodeURIComponent(ref.revision)}/${encodedPath}`;
}
