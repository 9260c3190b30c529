/**
 * Checksums off the main thread. One worker thread per process (`hash-worker.ts`) keeps a running hash per download;
 * the downloader tells it which range of the partial file to hash next (the bytes are read from the file there, in
 * the thread: none of them passes through the main thread, and what is hashed is what the disk holds). Hashing then
 * runs beside the sockets instead of between their reads: on the main thread, sha256 at about 1 GB/s took as long as
 * a loopback transfer itself.
 *
 * The thread is spawned on first use and does not keep the process alive when idle; if it dies, every pending call
 * rejects and the next hash spawns a new one.
 */

import type { Worker } from 'node:worker_threads';

import { startOwnThread } from '../thread-options.js';

/** A request to the checksum thread; `seq` pairs it with its reply. */
export type HashRequest =
  | {
      readonly type: 'open';
      readonly stream: number;
      readonly seq: number;
      readonly algorithm: 'sha256' | 'sha1';
      readonly prefix?: string;
    }
  | {
      /** Hash bytes `[start, end)` of the file at `path`, which must hold them. */
      readonly type: 'file';
      readonly stream: number;
      readonly seq: number;
      readonly path: string;
      readonly start: number;
      readonly end: number;
    }
  | { readonly type: 'digest'; readonly stream: number; readonly seq: number }
  | { readonly type: 'drop'; readonly stream: number; readonly seq: number };

/** The checksum thread's answer to one request. */
export type HashReply =
  | { readonly type: 'done'; readonly stream: number; readonly seq: number; readonly hex?: string }
  | { readonly type: 'failed'; readonly stream: number; readonly seq: number; readonly message: string };

/** A running hash on the checksum thread. */
export interface Hasher {
  /** Adds bytes `[start, end)` of the file at `path`, read there; resolves once they are hashed. */
  hashFile(path: string, start: number, end: number): Promise<void>;
  /** The hex digest of everything added; the hasher is done after it. */
  digest(): Promise<string>;
  /** Drops the hash without a digest; safe to call more than once, and after {@link digest}. */
  dispose(): void;
}

interface Pending {
  readonly resolve: (reply: HashReply & { readonly type: 'done' }) => void;
  readonly reject: (error: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<string, Pending>;
}

let thread: Thread | undefined;
let nextStream = 1;
let nextSeq = 1;

function spawn(): Thread {
  // `.ts` under a TypeScript loader (which the worker then keeps), `.js` from the compiled dist/.
  const file = new URL(`./hash-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  const worker = startOwnThread(file);
  const spawned: Thread = { worker, pending: new Map() };
  worker.unref();
  const failAll = (error: Error): void => {
    if (thread === spawned) thread = undefined;
    for (const call of spawned.pending.values()) call.reject(error);
    spawned.pending.clear();
  };
  worker.on('message', (reply: HashReply) => {
    const key = `${reply.stream}:${reply.seq}`;
    const call = spawned.pending.get(key);
    if (call === undefined) return;
    spawned.pending.delete(key);
    if (spawned.pending.size === 0) worker.unref();
    if (reply.type === 'done') call.resolve(reply);
    else call.reject(new Error(`checksum failed: ${reply.message}`));
  });
  worker.on('error', (error) => failAll(new Error(`the checksum thread crashed: ${error.message}`, { cause: error })));
  worker.on('exit', (code) => failAll(new Error(`the checksum thread exited (code ${code})`)));
  return spawned;
}

function send(on: Thread, request: HashRequest): Promise<HashReply & { readonly type: 'done' }> {
  return new Promise((resolve, reject) => {
    on.pending.set(`${request.stream}:${request.seq}`, { resolve, reject });
    on.worker.ref();
    on.worker.postMessage(request);
  });
}

/** Starts a hash on the checksum thread; `prefix` is hashed first (git's `blob {size}\0` header). */
export function createHasher(algorithm: 'sha256' | 'sha1', prefix?: string): Hasher {
  thread ??= spawn();
  const on = thread;
  const stream = nextStream;
  nextStream += 1;
  let open = true;
  const opened = send(on, {
    type: 'open',
    stream,
    seq: nextSeq++,
    algorithm,
    ...(prefix === undefined ? {} : { prefix }),
  });
  // A failure to open shows in the next update or the digest, which meet the same dead thread.
  opened.catch(() => undefined);
  return {
    async hashFile(path, start, end) {
      if (!open) throw new Error('update of a finished checksum');
      await send(on, { type: 'file', stream, seq: nextSeq++, path, start, end });
    },
    async digest() {
      if (!open) throw new Error('digest of a finished checksum');
      open = false;
      const { hex } = await send(on, { type: 'digest', stream, seq: nextSeq++ });
      if (hex === undefined) throw new Error('the checksum thread sent no digest');
      return hex;
    },
    dispose() {
      if (!open) return;
      open = false;
      send(on, { type: 'drop', stream, seq: nextSeq++ }).catch(() => undefined);
    },
  };
}
