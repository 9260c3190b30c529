/**
 * The download connections, shared fairly. Every request of a file asks for a connection under a flow path (its
 * load, then its file); a free connection goes to the flow that holds the fewest, level by level (the load holding
 * fewest, then within it the file holding fewest; the longest waiting first among equals), so every load and every file
 * of a load makes progress. When a flow waits while another holds two or more connections more than it at the same
 * level, one of those is asked to yield (its `onPreempt`): a part of a file stops where it is, keeping every byte it
 * wrote, and asks again for the rest. So a small model asked for during a large download gets its share within one
 * request's set-up, not after the large file's parts end.
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
}

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
  seq: number;
}

/** A {@link FairShare} of `capacity` connections. */
export function createFairShare(capacity: number): FairShare {
  const share: Share = { capacity, root: newFlow(undefined, ''), held: 0, seq: 0 };
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
  };
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
      if (!holding.preempted) along(leaf, (n) => (n.held -= 1));
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

/** Among `node`'s children with waiters, the one holding fewest (the longest waiting first among equals). */
function neediest(node: Flow): Flow | undefined {
  let best: Flow | undefined;
  for (const child of node.children.values()) {
    if (child.waiting === 0) continue;
    if (best === undefined || child.held < best.held || (child.held === best.held && oldest(child) < oldest(best)))
      best = child;
  }
  return best;
}

/** Gives free connections to the neediest waiters, then asks holders to yield where the shares are uneven. */
function dispatch(share: Share): void {
  const { root } = share;
  while (share.held < share.capacity && root.waiting > 0) {
    let node = root;
    while (node.waiters.length === 0) {
      const next = neediest(node);
      if (next === undefined) return;
      node = next;
    }
    const waiter = node.waiters.shift() as Waiter;
    along(node, (n) => (n.waiting -= 1));
    share.held += 1;
    waiter.grant();
  }
  if (root.waiting > 0) rebalance(root);
}

/** Asks a holder to yield wherever a flow waits with two or more connections fewer than a sibling. */
function rebalance(node: Flow): void {
  for (;;) {
    const needy = neediest(node);
    if (needy === undefined) return;
    let richest: Flow | undefined;
    for (const child of node.children.values()) if (richest === undefined || child.held > richest.held) richest = child;
    if (richest === undefined || richest === needy || richest.held < needy.held + 2) break;
    if (!preemptIn(richest)) break;
  }
  for (const child of node.children.values()) if (child.waiting > 0) rebalance(child);
}

/** Asks the newest preemptible grant of the richest leaf under `node` to yield; false when none can. */
function preemptIn(node: Flow): boolean {
  if (node.children.size === 0) {
    let newest: Holding | undefined;
    for (const holding of node.holdings) {
      if (holding.preempted || holding.onPreempt === undefined) continue;
      if (newest === undefined || holding.seq > newest.seq) newest = holding;
    }
    if (newest === undefined) return false;
    newest.preempted = true;
    // Counted as given back at once, so that one shortfall asks one holder, not one per look.
    along(node, (n) => (n.held -= 1));
    newest.onPreempt?.();
    return true;
  }
  const children = [...node.children.values()].sort((a, b) => b.held - a.held);
  return children.some((child) => child.held > 0 && preemptIn(child));
}
