/**
 * The feed's view of the models: what the server's tables hold, as the feed's `snapshot` and `GET /v1/models` show
 * it. Pure functions over the resident table and the loads under way; the clock is read by the caller.
 */

import type { FeedModel, FeedPull } from '../protocol/feed.js';
import type { LoadLife } from './load-life.js';
import type { ModelRef } from './loader-types.js';
import type { Expiry, ResidentTable } from './resident-table.js';

/** What the view shows of a load under way. */
export type ViewedLoad = Pick<LoadLife, 'ref' | 'last' | 'subscribers'>;

/** A load's or a pull's place: its stage, its progress, its queue while it waits, its subscribers. */
function underWay(load: ViewedLoad): FeedPull {
  const last = load.last;
  return {
    model: load.ref.key,
    ...(last ? { stage: last.stage } : {}),
    ...(last?.progress ? { progress: last.progress } : {}),
    ...(last?.queue ? { queue: last.queue } : {}),
    subscribers: load.subscribers,
  };
}

/** The pulls under way (`POST /pull_model`), as the snapshot's and `GET /v1/models`' `pulls` show them. */
export function feedPulls(pulls: Iterable<ViewedLoad>): FeedPull[] {
  return [...pulls].map(underWay);
}

/**
 * The resident models (in the order they were added), then the loads under way. `now` is the clock's monotonic
 * time, in milliseconds: a resident model's idle time and the time until it expires are measured to it (idle 0 while
 * it generates). A load waiting its turn shows stage `queued` and its `queue`.
 */
export function feedModels(residents: ResidentTable, loads: Iterable<ViewedLoad>, now: number): FeedModel[] {
  const list: FeedModel[] = [];
  for (const ref of residents.refs()) {
    const info = residents.info(ref.key);
    if (info === undefined) continue;
    list.push({
      model: ref.key,
      state: 'resident',
      size_bytes: info.model.weightBytes ?? null,
      ...(info.model.dtype === undefined ? {} : { dtype: info.model.dtype }),
      ...(info.model.hasChatTemplate === undefined ? {} : { has_chat_template: info.model.hasChatTemplate }),
      idle_ms: info.holds > 0 ? 0 : Math.max(0, Math.round(now - info.lastUsedAt)),
      active_requests: info.holds,
      ...expiryFields(info.expiry, now),
    });
  }
  for (const load of loads) {
    const { model, ...where } = underWay(load);
    list.push({ model, state: 'loading', ...where });
  }
  return list;
}

/**
 * A resident model's expiry as the wire gives it: `expires_at` (RFC 3339, UTC) and `expires_in_ms` from `now` (the
 * clock's monotonic time, so a wall clock that steps does not move it), both `null` when no unload is scheduled.
 */
export function expiryFields(expiry: Expiry, now: number): Required<Pick<FeedModel, 'expires_at' | 'expires_in_ms'>> {
  if (expiry.kind !== 'at') return { expires_at: null, expires_in_ms: null };
  return {
    expires_at: new Date(expiry.at).toISOString(),
    expires_in_ms: Math.max(0, Math.round(expiry.monotonicAt - now)),
  };
}

/** The snapshot's list: `known` (the manager's models), then the models only on disk (`cached`), each once. */
export function withCachedModels(known: readonly FeedModel[], cached: readonly Pick<ModelRef, 'key'>[]): FeedModel[] {
  const seen = new Set(known.map((model) => model.model));
  return [
    ...known,
    ...cached.filter((ref) => !seen.has(ref.key)).map((ref) => ({ model: ref.key, state: 'cached' as const })),
  ];
}
