/**
 * The CDN's edges: which connections land on a capped edge. On the real Hub some CDN edges give one request ~8.7 MB/s
 * where others give ~68 MB/s; a client cannot tell which edge it reached until it measures, and a new connection may
 * reach another. Here the edge is chosen per connection, deterministically, so a benchmark is repeatable: with a cap
 * every `every` connections, the `every`-th, `2·every`-th, … connection the CDN accepts is capped, and every response
 * on it is limited to the cap's rate.
 */
import type { Socket } from 'node:net';

/** Some edges are slow: one connection in `every` has its responses limited to `bytesPerSecond` each. */
export interface EdgeCap {
  /** Bytes per second each response on a capped connection gets at most; more than 0. */
  readonly bytesPerSecond: number;
  /** One connection in this many is capped (1: all of them). Default 4. */
  readonly every?: number;
}

/** One connection in this many is capped unless told otherwise. */
export const DEFAULT_EDGE_EVERY = 4;

/** The CDN's connections and the edge each landed on. */
export interface Edges {
  /** A connection was accepted: it lands on an edge, capped or not, for its life. */
  accept(socket: Socket): void;
  /**
   * The cap of the edge `socket` landed on, in bytes per second (read at each slice, so a change applies to responses
   * under way), or 0 when it is not capped (or the socket is not the CDN's).
   */
  capOf(socket: Socket | null): number;
  /** Whether `socket` landed on a capped edge. */
  isCapped(socket: Socket | null): boolean;
}

/** Tracks edges for a CDN whose cap is `cap()` (undefined: no edge is capped); connections are counted from 1. */
export function createEdges(cap: () => EdgeCap | undefined): Edges {
  const numbers = new WeakMap<Socket, number>();
  let accepted = 0;
  const capped = (socket: Socket | null): EdgeCap | undefined => {
    const current = cap();
    if (current === undefined || socket === null) return undefined;
    const number = numbers.get(socket);
    if (number === undefined) return undefined;
    return number % (current.every ?? DEFAULT_EDGE_EVERY) === 0 ? current : undefined;
  };
  return {
    accept(socket) {
      accepted += 1;
      numbers.set(socket, accepted);
    },
    capOf: (socket) => capped(socket)?.bytesPerSecond ?? 0,
    isCapped: (socket) => capped(socket) !== undefined,
  };
}

/** The lower of two rates where 0 means unlimited (so 0 and 5 give 5). */
export function tighterRate(a: number, b: number): number {
  if (!(a > 0)) return b > 0 ? b : 0;
  return b > 0 ? Math.min(a, b) : a;
}
