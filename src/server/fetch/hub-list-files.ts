/**
 * The hub client's `listFiles`: every file of a commit, with sizes and the digests each is verified against, from
 * `GET {hubUrl}/api/models/{id}/tree/{revision}?recursive=true` and its `Link: rel="next"` pages.
 */

import { LoadError } from '../loader-types.js';
import type { HubFile, RepoRef } from './hub-client.js';
import { getJson, type HubContext } from './hub-request.js';

/** Lists every file of `ref`, following pagination; a page asked again on a 5xx, 408 or 429 (`getJson`). */
export async function listFiles(hub: HubContext, ref: RepoRef, signal?: AbortSignal): Promise<HubFile[]> {
  const files: HubFile[] = [];
  let url: string | undefined =
    `${hub.hubUrl}/api/models/${ref.id}/tree/${encodeURIComponent(ref.revision)}?recursive=true`;
  // A hub that keeps answering with a `next` link would otherwise loop forever.
  const seen = new Set<string>();
  while (url !== undefined) {
    if (seen.has(url)) {
      throw new LoadError('HUB_ERROR', `the hub at ${hub.hubUrl} paginated the file list of ${ref.id} in a loop`);
    }
    seen.add(url);
    const { body: page, headers } = await getJson(hub, url, ref, 'the file list', signal);
    if (!Array.isArray(page)) {
      throw new LoadError(
        'HUB_ERROR',
        `the hub at ${hub.hubUrl} answered the file list of ${ref.id} with something other than a JSON array`,
      );
    }
    files.push(...parseTreePage(page));
    const next = nextLink(headers.get('link'));
    url = next === undefined ? undefined : new URL(next, url).toString();
  }
  return files;
}

/** Entries of one page of the tree API: files only (directories are implied by paths). */
function parseTreePage(page: readonly unknown[]): HubFile[] {
  const files: HubFile[] = [];
  for (const entry of page) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, path, size, lfs, oid } = entry as {
      type?: unknown;
      path?: unknown;
      size?: unknown;
      lfs?: unknown;
      oid?: unknown;
    };
    if (type !== 'file' || typeof path !== 'string') continue;
    const lfsInfo = typeof lfs === 'object' && lfs !== null ? (lfs as { size?: unknown; oid?: unknown }) : undefined;
    const bytes = typeof lfsInfo?.size === 'number' ? lfsInfo.size : size;
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) continue;
    const sha256 = typeof lfsInfo?.oid === 'string' && /^[0-9a-f]{64}$/.test(lfsInfo.oid) ? lfsInfo.oid : undefined;
    const gitOid = typeof oid === 'string' && /^[0-9a-f]{40}$/.test(oid) ? oid : undefined;
    files.push({
      path,
      size: bytes,
      ...(gitOid === undefined ? {} : { oid: gitOid }),
      ...(sha256 === undefined ? {} : { sha256 }),
    });
  }
  return files;
}

/** The target of `rel="next"` in an RFC 8288 `Link` header, if any. */
export function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match === null) continue;
    const params = match[2] ?? '';
    if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(params)) return match[1];
  }
  return undefined;
}
