/**
 * The read-through that `weights` progress counts: every MiB of a load's ONNX weight files read from the cache, on the
 * main thread's asynchronous file I/O (libuv's thread pool), while the model worker builds its ONNX Runtime session
 * from the same files.
 *
 * Reading is what brings a cold file from the disk into the OS page cache, the slow part on a real disk; ONNX Runtime
 * then reads it from there. The two ran one after the other in the worker until the read moved here: from a warm page
 * cache the read of the 100 MB demo model took 10-20 ms of a 300 ms load, the whole of modeldeck's overhead over a
 * direct transformers.js load (`npm run bench`, load overhead). Running beside the session it costs the load nothing
 * on a warm cache, and on a cold one the two share the disk's reads instead of paying for them twice in turn.
 *
 * One reused 1 MiB buffer per load: memory stays bounded whatever the file size, and the bytes are dropped.
 *
 * ## The unit of `weights` progress
 *
 * One item is either **one MiB (1,048,576 bytes) of an ONNX weight file read from the cache** (the last block of each
 * file may be shorter), or **one ONNX Runtime inference session created**. For a causal LM with weights
 * `onnx/model.onnx` plus external data `onnx/model.onnx_data` the total is
 * `ceil(size(model.onnx) / 1 MiB) + ceil(size(model.onnx_data) / 1 MiB) + 1` (`weightItems`). Blocks complete as they
 * are read, the session when transformers.js has built it (ONNX Runtime reports nothing while it does, so that is one
 * item, however long it takes), in whichever order; `current == total` only once both are done. Nothing is
 * interpolated or ticked on a timer.
 */

import { open } from 'node:fs/promises';
import { join } from 'node:path';

import { WEIGHTS_BLOCK_BYTES } from './text-tools.js';

/** One weight file of a snapshot, with its size in bytes. */
export interface WeightFile {
  /** Path inside the snapshot, e.g. `onnx/model.onnx`. */
  readonly path: string;
  readonly size: number;
}

/**
 * Reads `files` (paths inside the snapshot directory `dir`) block by block and calls `onBlock` after each block of
 * {@link WEIGHTS_BLOCK_BYTES} (a file's last block may be shorter). Rejects when a file is missing or shorter than its
 * size; resolves early, without reading on, once `signal` fires (the load's own abort then reports it).
 */
export async function readThroughWeights(
  dir: string,
  files: readonly WeightFile[],
  onBlock: () => void,
  signal?: AbortSignal,
): Promise<void> {
  const block = Buffer.allocUnsafe(WEIGHTS_BLOCK_BYTES);
  const stopped = (): boolean => signal?.aborted === true;
  for (const file of files) {
    if (stopped()) return;
    const handle = await open(join(dir, ...file.path.split('/')), 'r');
    try {
      for (let offset = 0; offset < file.size; offset += WEIGHTS_BLOCK_BYTES) {
        if (stopped()) return;
        const length = Math.min(WEIGHTS_BLOCK_BYTES, file.size - offset);
        let read = 0;
        while (read < length) {
          const { bytesRead } = await handle.read(block, read, length - read, offset + read);
          if (bytesRead === 0) {
            throw new Error(`${file.path} is shorter than its ${file.size} bytes; delete its cache entry and retry`);
          }
          read += bytesRead;
        }
        onBlock();
      }
    } finally {
      await handle.close();
    }
  }
}
