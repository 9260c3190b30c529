/** What every step of fetching a snapshot shares (resolve, list, download, link): a file of its own, so the steps
 * and the fetcher that composes them import it without importing each other. */

import type { Transfer } from './transfer.js';
import type { HubClient } from './hub-client.js';

/** Options of `openSnapshot` (`snapshot-fetcher.ts`) and of each of its steps. */
export interface SnapshotFetcherOptions {
  readonly hub: HubClient;
  /** The Hugging Face cache directory (see `model-cache.ts`). */
  readonly cacheDir: string;
  /** Never contact the hub: only what the cache holds loads. */
  readonly offline?: boolean | undefined;
  /** ONNX precisions to load, in order of preference (`auto`: the default choice); see `model-files.ts`. */
  readonly dtype?: readonly string[] | undefined;
  /** The connections and memory downloads share. */
  readonly transfer: Transfer;
}
