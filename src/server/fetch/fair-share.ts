/**
 * The download connections, shared fairly. Every request of a file asks for a connection under a flow path (its
 * load, then its file); a free connection goes to the flow whose share is smallest, level by level (the load, then
 * within it the file; the longest waiting first among equals), so every load and every file of a load makes progress.
 * Shares are counted in connections held per weight: files weigh one each, and so do loads, except the load with the
 * fewest bytes left (each says how many through {@link FairShare.weigh}), which weighs {@link SHORTEST_LOAD_WEIGHT}.
 * Favouring it costs the others nothing at the end: the link carries the same bytes either way, so the larger load
 * finishes when it would have, while the smaller one is ready sooner (a model asked for during a large download is
 * not held to half the link); the others keep one share each, so they never stop.
 *
 * When a flow waits while another's share would still be at least its own after giving it one connection, one of the
 * other's is asked to yield (its `onPreempt`): a part of a file stops where it is, keeping every byte it wrote, and
 * asks again for the rest. Connections already asked to yield count as on their way to the waiters, so a flow waiting
 * for one connection (a config file) cuts one, not all but one. So a small model asked for during a large download
 * gets its share within one request's set-up, not after the large file's parts end.
 *
 * Pure bookkeeping: no timers; preemption is a call to the holder, which releases its connection when it has stopped.
 */

/** A connection held; {@link release} is safe to call more than once. */
export interface Grant {
  release(): void;
}

/** Connections shared by flows. */
export interface FairShare {
  /** Connections in all. */
  readonly capacity: number;
  /** Connections held now. */
  readonly held: number;
  /**
   * Waits for a connection for the flow `path` (e.g. `[load, file]`); rejects with the signal's reason when it aborts
   * first. `onPreempt`, when given, is called (once) when the connection should be given back soon for a flow that
   * has fewer; without it the grant is never asked to yield.
   */
  acquire(path: readonly string[], signal?: AbortSignal, onPreempt?: () => void): Promise<Grant>;
  /**
   * Says how many bytes the load `flow` (the first name of its paths) has left, read whenever connections are shared
   * out; the load with the fewest weighs {@link SHORTEST_LOAD_WEIGHT}. Returns the function that forgets it.
   */
  weigh(flow: string, bytesLeft: () => number): () => void;
}

/** The weight of the load with the fewest bytes left, against one for every other load and file. */
export const SHORTEST_LOAD_WEIGHT = 3;

interface Waiter {
  readonly seq: number;
  readonly grant: () => void;
}

interface Holding {
  readonly seq: number;
  readonly onPreempt: (() => void) | undefined;
  preempted: boolean;
}

/** A node of the flow tree: its subtree's held connections and waiters. */
interface Flow {
  readonly parent: Flow | undefined;
  readonly name: string;
  readonly children: Map<string, Flow>;
  /** Connections held in the subtree, less those asked to yield. */
  held: number;
  /** Waiters in the subtree. */
  waiting: number;
  /** At a leaf: its waiters, oldest first, and its grants. */
  readonly waiters: Waiter[];
  readonly holdings: Set<Holding>;
}

function newFlow(parent: Flow | undefined, name: string): Flow {
  return { parent, name, children: new Map(), held: 0, waiting: 0, waiters: [], holdings: new Set() };
}

/** The whole tree and its counts. */
interface Share {
  readonly capacity: number;
  readonly root: Flow;
  /** Connections held, those asked to yield included. */
  held: number;
  /** Connections asked to yield and not given back yet: each is on its way to a waiter. */
  yielding: number;
  seq: number;
  /** The loads' bytes left, by the first name of their paths. */
  readonly bytesLeft: Map<string, () => number>;
}

/** A flow's weight: what its held connections are divided by to compare its share with its siblings'. */
type Weight = (flow: Flow) => number;

/** A {@link FairShare} of `capacity` connections. */
export function createFairShare(capacity: number): FairShare {
  const share: Share = { capacity, root: newFlow(undefined, ''), held: 0, yielding: 0, seq: 0, bytesLeft: new Map() };
  return {
    capacity,
    get held() {
      return share.held;
    },
    acquire(path, signal, onPreempt) {
      return new Promise<Grant>((resolve, reject) => {
        if (signal?.aborted === true) {
          reject(signal.reason as Error);
          return;
        }
        const leaf = leafOf(share.root, path);
        const waiter: Waiter = {
          seq: (share.seq += 1),
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(hold(share, leaf, waiter.seq, onPreempt));
          },
        };
        const onAbort = (): void => {
          const index = leaf.waiters.indexOf(waiter);
          if (index < 0) return;
          leaf.waiters.splice(index, 1);
          along(leaf, (n) => (n.waiting -= 1));
          prune(leaf);
          reject(signal?.reason as Error);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        leaf.waiters.push(waiter);
        along(leaf, (n) => (n.waiting += 1));
        dispatch(share);
      });
    },
    weigh(flow, bytesLeft) {
      share.bytesLeft.set(flow, bytesLeft);
      return () => {
        if (share.bytesLeft.get(flow) === bytesLeft) share.bytesLeft.delete(flow);
      };
    },
  };
}

/** The weights of one sharing-out: {@link SHORTEST_LOAD_WEIGHT} for the load with fewest bytes left, else 1. */
function weights(share: Share): Weight {
  let shortest: string | undefined;
  let least = Infinity;
  for (const [name, bytesLeft] of share.bytesLeft) {
    if (!share.root.children.has(name)) continue;
    const left = bytesLeft();
    if (left < least) {
      least = left;
      shortest = name;
    }
  }
  if (shortest === undefined || share.root.children.size < 2) return () => 1;
  return (flow) => (flow.parent === share.root && flow.name === shortest ? SHORTEST_LOAD_WEIGHT : 1);
}

/** The grant of a connection just given to `leaf`'s waiter number `seq`. */
function hold(share: Share, leaf: Flow, seq: number, onPreempt: (() => void) | undefined): Grant {
  const holding: Holding = { seq, onPreempt, preempted: false };
  leaf.holdings.add(holding);
  along(leaf, (n) => (n.held += 1));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      leaf.holdings.delete(holding);
      if (holding.preempted) share.yielding -= 1;
      else along(leaf, (n) => (n.held -= 1));
      share.held -= 1;
      prune(leaf);
      dispatch(share);
    },
  };
}

/** The leaf of `path`, made on first use. */
function leafOf(root: Flow, path: readonly string[]): Flow {
  let node = root;
  for (const name of path) {
    let child = node.children.get(name);
    if (child === undefined) {
      child = newFlow(node, name);
      node.children.set(name, child);
    }
    node = child;
  }
  return node;
}

/** Applies `change` to `leaf` and every flow above it. */
function along(leaf: Flow, change: (node: Flow) => void): void {
  for (let node: Flow | undefined = leaf; node !== undefined; node = node.parent) change(node);
}

/** Forgets the flows above `leaf` that hold, wait and contain nothing, so finished loads leave no trace. */
function prune(leaf: Flow): void {
  for (let node: Flow | undefined = leaf; node?.parent !== undefined; node = node.parent) {
    if (node.held > 0 || node.waiting > 0 || node.children.size > 0 || node.holdings.size > 0) return;
    node.parent.children.delete(node.name);
  }
}

/** The oldest waiter's number in a subtree. */
function oldest(node: Flow): number {
  let best = node.waiters[0]?.seq ?? Infinity;
  for (const child of node.children.values()) if (child.waiting > 0) best = Math.min(best, oldest(child));
  return best;
}

/**
 * Among `node`'s children with waiters, the one whose share would be smallest with one more connection (the longest
 * waiting first among equals).
 */
function neediest(node: Flow, weight: Weight): Flow | undefined {
  let best: Flow | undefined;
  let bestShare = Infinity;
  for (const child of node.children.values()) {
    if (child.waiting === 0) continue;
    const share = (child.held + 1) / weight(child);
    if (best === undefined || share < bestShare || (share === bestShare && oldest(child) < oldest(best))) {
      best = child;
      bestShare = share;
    }
  }
  return best;
}

/** Gives free connections to the neediest waiters, then asks holders to yield where the shares are uneven. */
function dispatch(share: Share): void {
  const { root } = share;
  const weight = weights(share);
  while (share.held < share.capacity && root.waiting > 0) {
    let node = root;
    while (node.waiters.length === 0) {
      const next = neediest(node, weight);
      if (next === undefined) return;
      node = next;
    }
    const waiter = node.waiters.shift() as Waiter;
    along(node, (n) => (n.waiting -= 1));
    share.held += 1;
    waiter.grant();
  }
  if (root.waiting > 0) rebalance(share, root, weight);
}

/**
 * Asks holders to yield wherever a flow waits and a sibling's share would still be at least its own after giving it
 * one connection, counting the connections already yielding as given to the waiter (no more are cut than wait).
 */
function rebalance(share: Share, node: Flow, weight: Weight): void {
  for (;;) {
    const needy = neediest(node, weight);
    if (needy === undefined || share.yielding >= needy.waiting) break;
    let richest: Flow | undefined;
    for (const child of node.children.values()) {
      if (richest === undefined || child.held / weight(child) > richest.held / weight(richest)) richest = child;
    }
    if (richest === undefined || richest === needy) break;
    if ((needy.held + share.yielding + 1) / weight(needy) > (richest.held - 1) / weight(richest)) break;
    if (!preemptIn(share, richest)) break;
  }
  for (const child of node.children.values()) if (child.waiting > 0) rebalance(share, child, weight);
}

/** Asks the newest preemptible grant of the richest leaf under `node` to yield; false when none can. */
function preemptIn(share: Share, node: Flow): boolean {
  if (node.children.size === 0) {
    let newest: Holding | undefined;
    for (const holding of node.holdings) {
      if (holding.preempted || holding.onPreempt === undefined) continue;
      if (newest === undefined || holding.seq > newest.seq) newest = holding;
    }
    if (newest === undefined) return false;
    newest.preempted = true;
    share.yielding += 1;
    // Counted as given back at once, so that one shortfall asks one holder, not one per look.
    along(node, (n) => (n.held -= 1));
    newest.onPreempt?.();
    return true;
  }
  const children = [...node.children.values()].sort((a, b) => b.held - a.held);
  return children.some((child) => child.held > 0 && preemptIn(share, child));
}
