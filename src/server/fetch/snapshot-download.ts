/**
 * Step three of fetching a snapshot: the files it lacks, all at once (the transfer bounds connections and memory),
 * each into its blob and then linked into the snapshot, with one progress over all of them.
 *
 * The progress total is the bytes to fetch over the network: the sizes of the files whose blob is missing, less what
 * their `.incomplete` files hold already. It is known before the first byte and never changes; `current` is clamped
 * per file between what it reported before and that file's share of the total, so it never decreases (a file fetched
 * again from scratch after a failed checksum stays where it was until it passes it) and never exceeds the total.
 */

import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';

import { setMaxListeners } from 'node:events';

import { downloadBlob, incompletePath, LISTENERS } from './downloader.js';
import { etagOf, type HubClient, type HubFile } from './hub-client.js';
import { blobFile, presentFiles } from './model-cache.js';
import type { ModelRef } from '../loader-types.js';
import { linkBlob } from './snapshot-link.js';
import type { Transfer } from './transfer.js';

/** Options of {@link downloadFiles}. */
export interface DownloadFilesOptions {
  readonly hub: HubClient;
  readonly ref: ModelRef;
  readonly commit: string;
  readonly cacheDir: string;
  /** The snapshot directory of the commit. */
  readonly snapshot: string;
  readonly files: readonly HubFile[];
  readonly transfer: Transfer;
  readonly signal?: AbortSignal | undefined;
  /** Called once, before any byte is fetched, with the bytes to fetch; not called when nothing must be fetched. */
  readonly onStart?: ((total: number) => void) | undefined;
  /** Bytes fetched so far of `total`. */
  readonly onProgress?: ((current: number, total: number) => void) | undefined;
}

/**
 * Makes every file of `files` present in the snapshot. Resolves false when all were there already, true when
 * something was fetched or linked. Rejects with the first failure, once every other download has stopped.
 */
export async function downloadFiles(options: DownloadFilesOptions): Promise<boolean> {
  const { files, snapshot, cacheDir, ref } = options;
  const present = await presentFiles(snapshot, files);
  const missing = files.filter((file) => !present.has(file.path));
  if (missing.length === 0) return false;
  const plans = await Promise.all(
    missing.map(async (file) => {
      const blob = blobFile(cacheDir, ref, etagOf(file) ?? unlistedEtag(options.commit, file));
      const done = await stat(blob).catch(() => undefined);
      if (done?.isFile() === true && done.size === file.size) return { file, blob, have: file.size, share: 0 };
      const partial = await stat(incompletePath(blob)).catch(() => undefined);
      const have = partial !== undefined && partial.size <= file.size ? partial.size : 0;
      return { file, blob, have, share: file.size - have };
    }),
  );
  const total = plans.reduce((sum, plan) => sum + plan.share, 0);
  const network = plans.filter((plan) => plan.share > 0);
  if (network.length > 0) options.onStart?.(total);
  const counted = new Map<string, number>();
  let firstFailure: { error: unknown } | undefined;
  let current = 0;
  const controller = new AbortController();
  setMaxListeners(LISTENERS, controller.signal);
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // Smallest first: a tokenizer or a config should not wait behind gigabytes for a connection.
    const ordered = [...plans].sort((a, b) => a.file.size - b.file.size);
    const results = await Promise.allSettled(
      ordered.map(async (plan) => {
        await downloadBlob({
          hub: options.hub,
          ref: { id: ref.id, revision: options.commit },
          file: plan.file,
          blob: plan.blob,
          transfer: options.transfer,
          signal: controller.signal,
          onProgress(bytes) {
            const before = counted.get(plan.file.path) ?? 0;
            const now = Math.min(plan.share, Math.max(before, bytes - plan.have));
            if (now === before) return;
            counted.set(plan.file.path, now);
            current += now - before;
            options.onProgress?.(current, total);
          },
        }).catch((error: unknown) => {
          firstFailure ??= { error };
          controller.abort(error);
          throw error;
        });
        await linkBlob(snapshot, plan.file.path, plan.blob);
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    // The first failure is the one that aborted the others; theirs only say they were aborted.
    if (failed !== undefined) throw (firstFailure as { error: unknown } | undefined)?.error ?? failed.reason;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (current < total) options.onProgress?.(total, total);
  return true;
}

/** A stable blob name for a file the listing gave no digest for (such a file cannot be verified). */
function unlistedEtag(commit: string, file: HubFile): string {
  return `unlisted-${createHash('sha1').update(`${commit}\0${file.path}`).digest('hex')}`;
}
