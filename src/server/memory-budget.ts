/**
 * `--max-memory`: a load is admitted only if its weights (the bytes of the files chosen, from the listing, before any
 * is fetched) fit beside the resident models' and the other admitted loads'. When they do not, the least recently used
 * idle models are evicted first, as `--max-models` does; when that is not enough, the load is refused with
 * `MEMORY_BUDGET_EXCEEDED`, giving the estimate and the budget, unless it was asked with `"force": true`.
 */

import { LoadError, type ModelRef } from './loader-types.js';
import type { ResidentTable } from './resident-table.js';

/** One server's memory budget. */
export interface MemoryBudget {
  /** Admits `bytes` of weights for `ref` (evicting idle models when needed), or rejects; `force` never rejects. */
  admit(ref: ModelRef, bytes: number, force: boolean): Promise<void>;
  /** `key`'s load ended (its model, if any, now counts as resident): its reservation goes. */
  release(key: string): void;
  /** Bytes of the resident models' weights. */
  residentBytes(): number;
}

/** Options of {@link createMemoryBudget}. */
export interface MemoryBudgetOptions {
  /** The budget, in bytes; 0: none (every load admitted). */
  readonly maxBytes: number;
  readonly residents: ResidentTable;
  /** Unloads a resident model to make room (reason `evicted`), and resolves once it is gone. */
  readonly evict: (key: string) => Promise<unknown>;
}

/** Creates the budget. */
export function createMemoryBudget(options: MemoryBudgetOptions): MemoryBudget {
  const { maxBytes, residents } = options;
  const reserved = new Map<string, number>();
  const residentBytes = (): number =>
    residents.refs().reduce((sum, ref) => sum + (residents.get(ref.key)?.weightBytes ?? 0), 0);
  const used = (except: string): number =>
    residentBytes() + [...reserved].reduce((sum, [key, bytes]) => (key === except ? sum : sum + bytes), 0);
  return {
    async admit(ref, bytes, force) {
      if (maxBytes <= 0) return;
      for (;;) {
        if (used(ref.key) + bytes <= maxBytes) break;
        const victim = idleVictim(residents, ref.key);
        if (victim === undefined) {
          if (force) break;
          throw new LoadError('MEMORY_BUDGET_EXCEEDED', refusal(ref, bytes, maxBytes, used(ref.key), residents));
        }
        await options.evict(victim);
      }
      reserved.set(ref.key, bytes);
    },
    release: (key) => void reserved.delete(key),
    residentBytes,
  };
}

/** The least recently used resident model neither generating nor pinned, other than `except`. */
function idleVictim(residents: ResidentTable, except: string): string | undefined {
  let victim: { key: string; at: number } | undefined;
  for (const ref of residents.refs()) {
    const info = residents.info(ref.key);
    if (ref.key === except || info === undefined || info.holds > 0 || info.pinned) continue;
    if (victim === undefined || info.lastUsedAt < victim.at) victim = { key: ref.key, at: info.lastUsedAt };
  }
  return victim?.key;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function refusal(ref: ModelRef, bytes: number, max: number, used: number, residents: ResidentTable): string {
  const held = residents.refs().map((r) => {
    const info = residents.info(r.key);
    const why = info?.pinned ? 'pinned' : (info?.holds ?? 0) > 0 ? 'generating' : 'in memory';
    return `${r.key} (${mb(info?.model.weightBytes ?? 0)}, ${why})`;
  });
  return (
    `cannot load ${ref.key}: its weights are about ${mb(bytes)} (${bytes} bytes, from the listing) and the server's ` +
    `memory budget is ${mb(max)} (--max-memory ${max}), of which ${mb(used)} is held` +
    `${held.length > 0 ? ` by ${held.join(', ')}` : ' by loads under way'}; nothing was downloaded. Unload a model ` +
    '(POST /unload_model), raise --max-memory, or send {"force": true} to load it anyway'
  );
}
