/**
 * The hub client's `resolveCommit`: the commit a revision names now, from
 * `GET {hubUrl}/api/models/{id}/revision/{revision}` (its `sha`), as huggingface_hub's `snapshot_download` pins it
 * before listing.
 */

import { LoadError } from '../loader-types.js';
import type { RepoRef } from './hub-client.js';
import { getJson, type HubContext } from './hub-request.js';

/** The commit (40 hex) `ref.revision` names now; asked again on a 5xx, 408 or 429 (`getJson`). */
export async function resolveCommit(hub: HubContext, ref: RepoRef, signal?: AbortSignal): Promise<string> {
  const url = `${hub.hubUrl}/api/models/${ref.id}/revision/${encodeURIComponent(ref.revision)}`;
  const { body: info } = await getJson(hub, url, ref, 'the revision', signal);
  const sha = typeof info === 'object' && info !== null ? (info as { sha?: unknown }).sha : undefined;
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) {
    throw new LoadError(
      'HUB_ERROR',
      `the hub at ${hub.hubUrl} named no commit for ${ref.id}@${ref.revision} (no 40-hex "sha" in ${url})`,
    );
  }
  return sha;
}
