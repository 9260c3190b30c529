/** What every step of fetching a snapshot shares (resolve, list, download, link): a file of its own, so the steps
 * and the fetcher that composes them import it without importing each other. */

import type { Transfer } from './downloader.js';
import type { HubClient } from './hub-client.js';

/** Options of `openSnapshot` (`snapshot-fetcher.ts`) and of each of its steps. */
export interface SnapshotFetcherOptions {
  readonly hub: HubClient;
  /** The Hugging Face cache directory (see `model-cache.ts`). */
  readonly cacheDir: string;
  /** Never contact the hub: only what the cache holds loads. */
  readonly offline?: boolean | undefined;
  /** ONNX precision to load; default: the model's config, else fp32, q8, q4, fp16. */
  readonly dtype?: string | undefined;
  /** The connections and memory downloads share. */
  readonly transfer: Transfer;
}
