/**
 * How a file download's answers and bodies fail, as {@link LoadError}s that say what to do: a length that disagrees
 * with the listing or the range asked, a body cut off, a body stopped by an abort.
 */

import { LoadError } from '../loader-types.js';
import { abortReason } from './download-retry.js';
import { errorCodeOf } from './error-code.js';
import type { FileResponse, HubFile } from './hub-client.js';
import { TransientError } from './transient-error.js';

/** Throws (and cancels the body) when the answer's length disagrees with the listing or with the bytes asked for. */
export function checkLength(response: FileResponse, file: HubFile, expected: number): void {
  const total = /\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '')?.[1];
  const lengthHeader = response.headers.get('content-length');
  const announced = total ?? (response.status === 200 ? lengthHeader : null);
  if (announced !== null && announced !== undefined && Number(announced) !== file.size) {
    response.cancel();
    throw new LoadError(
      'DOWNLOAD_FAILED',
      `the hub announced ${announced} bytes for ${file.path} but its file list says ${file.size}; retry`,
    );
  }
  if (lengthHeader !== null && Number(lengthHeader) !== expected) {
    response.cancel();
    throw new TransientError(
      'DOWNLOAD_FAILED',
      `the hub sent ${lengthHeader} bytes of ${file.path} for ${expected} asked; retry`,
      'cut',
    );
  }
}

/** What a body that failed at byte `at` of `file` fails the request with: a LoadError as it is, an abort, or a cut. */
export function bodyError(error: unknown, signal: AbortSignal, file: HubFile, at: number): unknown {
  if (error instanceof LoadError) return error;
  if (signal.aborted) return abortReason(signal, error);
  return cutOff(file, at, error);
}

/** The transient error of a body of `file` that ended after `received` bytes of the file. */
export function cutOff(file: HubFile, received: number, cause: unknown): LoadError {
  const code = errorCodeOf(cause);
  return new TransientError(
    'DOWNLOAD_FAILED',
    `download of ${file.path} was cut off after ${received} of ${file.size} bytes` +
      `${code === undefined ? '' : ` (${code})`}; retry`,
    'cut',
    undefined,
    { cause },
  );
}
