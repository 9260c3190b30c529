/**
 * The hub client's `listFiles`: every file of a commit, with sizes and the digests each is verified against, from
 * `GET {hubUrl}/api/models/{id}/tree/{revision}?recursive=true` and its `Link: rel="next"` pages.
 *
 * A listing is bounded ({@link LISTING_LIMITS}): a hub that paginates without end (one review counted 3,783 pages in
 * 90 s, still going after the client had left) or answers one page without end would otherwise hold its load, and a
 * `--max-loads` slot, for good. The Hub pages a listing by 1,000 entries; a model repository has tens of files.
 */

import { LoadError } from '../loader-types.js';
import type { HubFile, RepoRef } from './hub-client.js';
import { getJson, type HubContext } from './hub-request.js';

/** The most a file listing may take before the load fails with HUB_ERROR. */
const LISTING_LIMITS = {
  /** Pages (`Link: rel="next"` followed), the first included. */
  pages: 1000,
  /** Entries of all pages together, files and directories. */
  entries: 100_000,
  /** Bytes of JSON of all pages together. */
  bytes: 64 * 1024 * 1024,
} as const;

/**
 * Lists every file of `ref`, following pagination within {@link LISTING_LIMITS}; a page asked again on a 5xx, 408 or
 * 429 (`getJson`). Aborting `signal` (a cancelled load) stops it at once, the page being read included.
 */
export async function listFiles(hub: HubContext, ref: RepoRef, signal?: AbortSignal): Promise<HubFile[]> {
  const files: HubFile[] = [];
  let url: string | undefined =
    `${hub.hubUrl}/api/models/${ref.id}/tree/${encodeURIComponent(ref.revision)}?recursive=true`;
  // A hub that keeps answering with a `next` link would otherwise loop forever.
  const seen = new Set<string>();
  let entries = 0;
  let bytes = 0;
  while (url !== undefined) {
    if (seen.has(url)) {
      throw new LoadError('HUB_ERROR', `the hub at ${hub.hubUrl} paginated the file list of ${ref.id} in a loop`);
    }
    if (seen.size >= LISTING_LIMITS.pages) throw tooLong(hub, ref, `more than ${LISTING_LIMITS.pages} pages`);
    seen.add(url);
    const limit = {
      maxBytes: LISTING_LIMITS.bytes - bytes,
      tooBig: () => tooLong(hub, ref, `more than ${LISTING_LIMITS.bytes / 1024 / 1024} MiB of JSON`),
    };
    const answer = await getJson(hub, url, ref, 'the file list', signal, limit);
    const { body: page, headers } = answer;
    bytes += answer.bytes;
    if (!Array.isArray(page)) {
      throw new LoadError(
        'HUB_ERROR',
        `the hub at ${hub.hubUrl} answered the file list of ${ref.id} with something other than a JSON array`,
      );
    }
    entries += page.length;
    if (entries > LISTING_LIMITS.entries) throw tooLong(hub, ref, `more than ${LISTING_LIMITS.entries} entries`);
    files.push(...parseTreePage(page));
    const next = nextLink(headers.get('link'));
    if (next !== undefined && !URL.canParse(next, url)) {
      throw new LoadError('HUB_ERROR', `the hub at ${hub.hubUrl} named a next page of the file list that is no URL`);
    }
    url = next === undefined ? undefined : new URL(next, url).toString();
  }
  return files;
}

/** The HUB_ERROR of a listing past one of {@link LISTING_LIMITS}; `what` says which. */
function tooLong(hub: HubContext, ref: RepoRef, what: string): LoadError {
  return new LoadError(
    'HUB_ERROR',
    `the file list of ${ref.id}@${ref.revision} at the hub at ${hub.hubUrl} ran to ${what}, where a model ` +
      'repository has tens of files: modeldeck stops listing there; check --hub-url / HF_ENDPOINT (a hub or a ' +
      'proxy that pages without end)',
  );
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
