/**
 * The checksum thread (see `hasher.ts`): keeps one running hash per download and answers each chunk once it is
 * hashed, so the sender can free the chunk's memory budget. Messages of one port arrive in order, so a digest
 * request comes after every chunk sent before it.
 */

import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

import type { HashReply, HashRequest } from './hasher.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker.ts runs as a worker thread');
const hashes = new Map<number, Hash>();

port.on('message', (request: HashRequest) => {
  let reply: HashReply;
  try {
    reply = handle(request);
  } catch (error) {
    hashes.delete(request.stream);
    reply = { type: 'failed', stream: request.stream, seq: request.seq, message: (error as Error).message };
  }
  port.postMessage(
    reply,
    reply.type === 'done' && reply.bytes !== undefined ? [reply.bytes.buffer as ArrayBuffer] : [],
  );
});

function handle(request: HashRequest): HashReply {
  switch (request.type) {
    case 'open': {
      const hash = createHash(request.algorithm);
      if (request.prefix !== undefined) hash.update(request.prefix);
      hashes.set(request.stream, hash);
      return { type: 'done', stream: request.stream, seq: request.seq };
    }
    case 'update':
      running(request.stream).update(request.bytes);
      return {
        type: 'done',
        stream: request.stream,
        seq: request.seq,
        ...(request.giveBack === true ? { bytes: request.bytes } : {}),
      };
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

function running(stream: number): Hash {
  const hash = hashes.get(stream);
  if (hash === undefined) throw new Error(`no hash is open as stream ${stream}`);
  return hash;
}
