/**
 * The one channel of a load's `download` stage, from the sockets to the loader. The snapshot's weights step makes one
 * {@link DownloadProgress} over the loader's `onEvent` and passes that same object down: `snapshot-download.ts`
 * fixes its total before the first byte ({@link DownloadProgress.begin}) and every blob download (`downloader.ts`)
 * reports the bytes it has of its file ({@link BlobProgress.report}). Here, and only here, they become the stage's
 * events: `{type: 'stage', stage: 'download'}`, then `{type: 'progress', stage: 'download', current, total}`.
 *
 * The total is the bytes to fetch over the network: the sizes of the files whose blob is missing, less what their
 * partial files hold already (what their journals are believed for). It is fixed before the first byte; `current` is clamped per file between what it
 * counted before and that file's share of the total, so it never decreases (a file fetched again from scratch after a
 * failed checksum, or from a hub that ignores `Range`, stays where it was until it passes that) and never exceeds the
 * total.
 */

/** The events of the `download` stage (a `LoaderEvent` each); `current` and `total` are bytes. */
export type DownloadEvent =
  | { readonly type: 'stage'; readonly stage: 'download' }
  | { readonly type: 'progress'; readonly stage: 'download'; readonly current: number; readonly total: number };

/** What a blob download reports to. */
export interface BlobProgress {
  /**
   * The download of `path` has `bytes` of the file now (written, resumed, or received and about to be written). It may
   * go down when a download starts again from scratch (a failed checksum, a hub that ignores `Range`).
   */
  report(path: string, bytes: number): void;
}

/** One file of a download, as the progress counts it. */
export interface PlannedFile {
  readonly path: string;
  /** Bytes of it on the disk already (what its partial file holds; all of it when its blob is complete). */
  readonly have: number;
  /** Bytes of it to fetch over the network: its part of the total. */
  readonly share: number;
}

/** The progress of one load's `download` stage. */
export interface DownloadProgress extends BlobProgress {
  /** Fixes the total (the shares of `files`) and begins the stage: a `stage` event, then `progress` 0 of the total. */
  begin(files: readonly PlannedFile[]): void;
  /** Every file is there: the progress reaches the total, if it had not. */
  end(): void;
}

/** Creates the {@link DownloadProgress} of one load, emitting its events to `emit` (the loader's `onEvent`). */
export function createDownloadProgress(emit: (event: DownloadEvent) => void): DownloadProgress {
  const files = new Map<string, { readonly have: number; readonly share: number; counted: number }>();
  let total = 0;
  let current = 0;
  return {
    begin(planned) {
      for (const file of planned) files.set(file.path, { have: file.have, share: file.share, counted: 0 });
      total = planned.reduce((sum, file) => sum + file.share, 0);
      emit({ type: 'stage', stage: 'download' });
      emit({ type: 'progress', stage: 'download', current, total });
    },
    report(path, bytes) {
      const file = files.get(path);
      if (file === undefined) return;
      const counted = Math.min(file.share, Math.max(file.counted, bytes - file.have));
      if (counted === file.counted) return;
      current += counted - file.counted;
      file.counted = counted;
      emit({ type: 'progress', stage: 'download', current, total });
    },
    end() {
      if (current < total) emit({ type: 'progress', stage: 'download', current: total, total });
    },
  };
}
