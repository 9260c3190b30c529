/**
 * Bodies: sent throttled (each response's rate and the shared link), counted, and subject to the body faults
 * (reset, truncate, stall, flip) whose pattern matches.
 */
import type { ServerResponse } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tighterRate } from './edges.js';
import { writeHead, type Exchange } from './exchange.js';
import type { FaultKind, FaultSubject, MirrorFault } from './faults.js';
import { createThrottle } from './throttle.js';

const BODY_FAULTS: readonly FaultKind[] = ['reset', 'truncate', 'stall', 'flip'];

/** A JSON body: throttled, and subject to body faults whose pattern names the URL path. */
export async function sendJson(
  x: Exchange,
  subject: FaultSubject,
  value: unknown,
  extra: Record<string, string> = {},
): Promise<void> {
  const body = Buffer.from(JSON.stringify(value));
  writeHead(x, 200, { ...extra, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  await sendBody(x, subject, body.length, (bytes) => Readable.from([body.subarray(0, bytes)]));
}

/** Where a body sits in its file: its first byte's offset, and whether it answers a `Range`. */
export interface BodyPlace {
  readonly start: number;
  readonly ranged: boolean;
}

/**
 * Send `length` body bytes from `open(bytes)` (a stream of the first `bytes` bytes), throttled, counting what goes
 * out, unless a body fault matches: then only the fault's bytes are sent and the connection is reset, ended or left
 * hanging, or (a flip) all of them with one byte inverted. Fault offsets count from the file's start (see
 * {@link MirrorFault}).
 */
export async function sendBody(
  x: Exchange,
  subject: FaultSubject,
  length: number,
  open: (bytes: number) => Readable,
  place: BodyPlace = { start: 0, ranged: false },
): Promise<void> {
  const { res, record } = x;
  if (x.req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const { start } = place;
  const offsetOf = (fault: MirrorFault): number =>
    fault.kind === 'truncate' ? fault.bytes : fault.kind === 'status' ? 0 : fault.afterBytes;
  const fault = x.context.faults.take(subject, BODY_FAULTS, (candidate) => {
    const at = offsetOf(candidate);
    if (candidate.kind === 'flip') return at >= start && at < start + length;
    return !place.ranged || (at >= start && at < start + length);
  });
  const meter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      record.sent(chunk.length);
      callback(null, chunk);
    },
  });
  const throttle = createThrottle({ bytesPerSecond: rateOf(x), shared: x.context.link });
  if (fault === undefined) {
    await pipeline(open(length), throttle, meter, res).catch(ignoreAbort(res));
    return;
  }
  record.faulted(fault.kind);
  if (fault.kind === 'flip') {
    await pipeline(open(length), flipAt(fault.afterBytes - start), throttle, meter, res).catch(ignoreAbort(res));
    return;
  }
  const bytes = Math.min(length, Math.max(0, offsetOf(fault) - start));
  if (bytes > 0) {
    try {
      await pipeline(open(bytes), throttle, meter, res, { end: false });
    } catch (error) {
      ignoreAbort(res)(error);
      return;
    }
  } else {
    res.flushHeaders();
  }
  const socket = res.socket;
  if (socket === null || socket.destroyed) return;
  // Whatever the response has written must reach the kernel before the connection is cut.
  await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
  switch (fault.kind) {
    case 'reset':
      socket.resetAndDestroy();
      return;
    case 'truncate':
      socket.end();
      return;
    case 'stall':
      // Leave it open: the client's timeout or close() ends it.
      return;
    case 'status':
      return;
    default: {
      const unreachable: never = fault;
      throw new Error(`unhandled fault ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The rate of one response: the mirror's per-response rate, tightened by the cap of a capped CDN edge. */
function rateOf(x: Exchange): () => number {
  const { context } = x;
  const socket = x.req.socket;
  if (!context.edges.isCapped(socket)) return context.rate;
  x.record.capped();
  return () => tighterRate(context.rate(), context.edges.capOf(socket));
}

/** A pass-through that inverts the byte at `offset` of the stream. */
function flipAt(offset: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const at = offset - seen;
      seen += chunk.length;
      if (at < 0 || at >= chunk.length) {
        callback(null, chunk);
        return;
      }
      const copy = Buffer.from(chunk);
      copy[at] = (copy[at] as number) ^ 0xff;
      callback(null, copy);
    },
  });
}

function ignoreAbort(res: ServerResponse): (error: unknown) => void {
  return (error) => {
    // The client went away (or close() cut it): pipeline already destroyed the file stream and cleared the timer.
    if (res.destroyed || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw error;
  };
}
