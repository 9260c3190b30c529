/**
 * The checksum thread (see `hasher.ts`): keeps one running hash per download and hashes the ranges of files it is
 * told to, reading them itself through one buffer (so the thread holds {@link READ_BYTES} whatever the file size).
 * Messages of one port arrive in order, so a digest request comes after every range sent before it.
 */

import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

import type { HashReply, HashRequest } from './hasher.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker.ts runs as a worker thread');
const hashes = new Map<number, Hash>();

/** Bytes read from a file at once. */
const READ_BYTES = 1024 * 1024;
const buffer = Buffer.allocUnsafe(READ_BYTES);

port.on('message', (request: HashRequest) => {
  let reply: HashReply;
  try {
    reply = handle(request);
  } catch (error) {
    hashes.delete(request.stream);
    reply = { type: 'failed', stream: request.stream, seq: request.seq, message: (error as Error).message };
  }
  port.postMessage(reply);
});

function handle(request: HashRequest): HashReply {
  switch (request.type) {
    case 'open': {
      const hash = createHash(request.algorithm);
      if (request.prefix !== undefined) hash.update(request.prefix);
      hashes.set(request.stream, hash);
      return { type: 'done', stream: request.stream, seq: request.seq };
    }
    case 'file':
      hashRange(running(request.stream), request.path, request.start, request.end);
      return { type: 'done', stream: request.stream, seq: request.seq };
    case 'digest': {
      const hex = running(request.stream).digest('hex');
      hashes.delete(request.stream);
      return { type: 'done', stream: request.stream, seq: request.seq, hex };
    }
    case 'drop':
      hashes.delete(request.stream);
      return { type: 'done', stream: request.stream, seq: request.seq };
    default: {
      const never: never = request;
      throw new Error(`unknown hash request ${JSON.stringify(never)}`);
    }
  }
}

/** Adds bytes `[start, end)` of the file at `path` to `hash`; throws when the file ends before. */
function hashRange(hash: Hash, path: string, start: number, end: number): void {
  const fd = openSync(path, 'r');
  try {
    for (let at = start; at < end;) {
      const read = readSync(fd, buffer, 0, Math.min(READ_BYTES, end - at), at);
      if (read === 0) throw new Error(`${path} ends at byte ${at}, before ${end}`);
      hash.update(buffer.subarray(0, read));
      at += read;
    }
  } finally {
    closeSync(fd);
  }
}

function running(stream: number): Hash {
  const hash = hashes.get(stream);
  if (hash === undefined) throw new Error(`no hash is open as stream ${stream}`);
  return hash;
}
