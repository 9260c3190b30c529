/**
 * Step four of fetching a snapshot: a downloaded (verified) blob becomes the snapshot's file, as a relative symbolic
 * link, huggingface_hub's way (`snapshots/{commit}/onnx/model.onnx` → `../../../blobs/{etag}`).
 */

import { mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

import { cacheWriteError } from './model-cache.js';

/** Makes `{snapshot}/{path}` a relative link to `blob`; an existing entry there is replaced atomically. */
export async function linkBlob(snapshot: string, path: string, blob: string): Promise<void> {
  const target = join(snapshot, ...path.split('/'));
  const pointer = relative(dirname(target), blob);
  try {
    if ((await readlink(target).catch(() => undefined)) === pointer) return;
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}.link`;
    await unlink(temp).catch(() => undefined);
    await symlink(pointer, temp);
    await rename(temp, target);
  } catch (error) {
    throw cacheWriteError(error, target);
  }
}
