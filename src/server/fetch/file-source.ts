/**
 * Where the parts of one file are asked for. The first request goes to the hub, which may redirect it (the Hub sends
 * large files to a signed CDN URL: the Xet bridge, S3); the URL that answered is kept, and the file's other parts ask
 * it directly, so a file costs the hub one request, not one per part. When that signed URL expires in the middle of
 * the download (a `403` or `410` from it), the hub is asked once more for a fresh one, and the part goes on; while one
 * part asks, the others wait for its answer rather than asking too.
 */

import type { ByteRange, FileResponse, HubClient, RepoRef } from './hub-client.js';
import { LinkExpired } from './hub-open-file.js';

/** Opens ranges of one file. */
export interface FileSource {
  /** Opens `range` of the file (the whole file without one); resolves once the answer's headers arrived. */
  open(range: ByteRange | undefined, signal: AbortSignal): Promise<FileResponse>;
  /** Times the hub was asked for the file (the first answer and every fresh link): for tests and the log. */
  readonly resolutions: number;
}

/** A {@link FileSource} for `path` of `ref` (at a commit). */
export function createFileSource(hub: HubClient, ref: RepoRef, path: string): FileSource {
  const own = new URL(hub.fileUrl(ref, path)).origin;
  /** The URL the parts ask directly, once an answer came from another origin than the hub's. */
  let signed: string | undefined;
  /** The hub answers the file itself: every part asks it. */
  let direct = false;
  /** The hub is being asked for the link (the first answer, or a fresh one): the others wait for it. */
  let asking: Promise<unknown> | undefined;
  let resolutions = 0;

  const askHub = async (range: ByteRange | undefined, signal: AbortSignal): Promise<FileResponse> => {
    resolutions += 1;
    const response = hub.openFile(ref, path, signal, range);
    const settled = response.then(
      () => undefined,
      () => undefined,
    );
    asking = settled;
    try {
      const answer = await response;
      if (new URL(answer.url).origin === own) direct = true;
      else signed = answer.url;
      return answer;
    } finally {
      if (asking === settled) asking = undefined;
    }
  };

  return {
    get resolutions() {
      return resolutions;
    },
    async open(range, signal) {
      // Checked with no await before the hub is asked, so that of parts starting together only one asks.
      while (asking !== undefined) await asking;
      if (direct) return hub.openFile(ref, path, signal, range);
      const link = signed;
      if (link === undefined) return askHub(range, signal);
      try {
        return await hub.openFile(ref, path, signal, range, link);
      } catch (error) {
        if (!(error instanceof LinkExpired)) throw error;
        if (signed === link) signed = undefined;
      }
      // One part asks the hub for a fresh link; the others whose link expired too take the one it got.
      while (asking !== undefined) await asking;
      const fresh = signed;
      if (fresh !== undefined && fresh !== link) {
        try {
          return await hub.openFile(ref, path, signal, range, fresh);
        } catch (error) {
          if (!(error instanceof LinkExpired)) throw error;
        }
      }
      return askHub(range, signal);
    },
  };
}
