/**
 * `GET /ready`: whether the models the server was started for (`serve --preload`, `--pin`) are resident. It starts
 * their loads once the server listens, follows them through the manager's events, tries a failed one again with a
 * growing pause, and answers 503 (with `Retry-After`, the phase, the model waited for and the time since the start)
 * until every one has been resident, then 200 for good: a preloaded model unloaded later (idle) loads again on its
 * next request, and a readiness probe must not take the server out of service for it.
 */

import { monotonicNow, type Clock, type TimerHandle } from '../common/clock.js';
import type { LoadManager } from './load-manager.js';
import type { ModelRef } from './loader-types.js';

/** Where one preloaded model is. */
type Phase =
  /** Its load has not sent an event yet. */
  | { readonly kind: 'starting' }
  /** Its load is in a stage (`queued`, `processor`, `config`, `download`, `weights`). */
  | { readonly kind: 'loading'; readonly stage: string }
  | { readonly kind: 'resident' }
  /** Its last load failed; it is tried again after a pause. */
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };

/** What `GET /ready` answers. */
export interface ReadyAnswer {
  readonly status: 200 | 503;
  /** Seconds for `Retry-After` (503 only). */
  readonly retryAfter?: number;
  readonly body: ReadyBody;
}

/** `GET /ready`'s body. */
export interface ReadyBody {
  /** `ready`, or while not: `starting`, `loading`, `failed` (the phase of the first model not yet resident). */
  readonly phase: string;
  /** The first preloaded model (`id@revision`) not yet resident; absent when ready. */
  readonly model?: string;
  /** Its load's stage (`loading`). */
  readonly stage?: string;
  /** Why its last load failed (`failed`: it is tried again). */
  readonly error?: { readonly code: string; readonly message: string };
  /** Seconds since the server started its preloads. */
  readonly elapsed: number;
  /** Every preloaded model and its phase. */
  readonly models: readonly { readonly model: string; readonly phase: string }[];
}

/** One server's readiness. */
export interface Readiness {
  /** Starts the preloads (after the server listens). */
  start(): void;
  answer(): ReadyAnswer;
  /** Stops following and trying again (on close). */
  stop(): void;
}

/** The first pause before a failed preload is tried again, and the longest, in milliseconds. */
const FIRST_RETRY_MS = 5000;
const MAX_RETRY_MS = 300_000;

/** Creates the readiness of a server that preloads `preload` (none: ready at once). */
export function createReadiness(manager: LoadManager, preload: readonly ModelRef[], clock: Clock): Readiness {
  const phases = new Map<string, Phase>(preload.map((ref) => [ref.key, { kind: 'starting' }]));
  const pauses = new Map<string, number>();
  const timers = new Set<TimerHandle>();
  let startedAt = monotonicNow(clock);
  let ready = preload.length === 0;
  let stopped = false;
  let unwatch: (() => void) | undefined;

  const settle = (): void => {
    ready ||= [...phases.values()].every((phase) => phase.kind === 'resident');
  };
  const load = (ref: ModelRef): void => {
    manager.acquire(ref).then(
      () => {
        phases.set(ref.key, { kind: 'resident' });
        settle();
      },
      (error: unknown) => {
        const { code = 'LOAD_FAILED', message = String(error) } = error as { code?: string; message?: string };
        phases.set(ref.key, { kind: 'failed', code, message });
        if (stopped) return;
        const pause = pauses.get(ref.key) ?? FIRST_RETRY_MS;
        pauses.set(ref.key, Math.min(pause * 2, MAX_RETRY_MS));
        const timer = clock.setTimeout(() => {
          timers.delete(timer);
          if (!stopped && !ready) load(ref);
        }, pause);
        timers.add(timer);
      },
    );
  };

  return {
    start() {
      startedAt = monotonicNow(clock);
      unwatch = manager.watch((event) => {
        if (event.type !== 'load' || ready) return;
        const phase = phases.get(event.event.model);
        if (phase !== undefined && phase.kind !== 'resident' && event.event.status === 'loading') {
          phases.set(event.event.model, { kind: 'loading', stage: event.event.stage });
        }
      });
      for (const ref of preload) load(ref);
    },
    answer() {
      const elapsed = Math.round((monotonicNow(clock) - startedAt) / 100) / 10;
      const models = [...phases].map(([model, phase]) => ({ model, phase: phase.kind }));
      if (ready) return { status: 200, body: { phase: 'ready', elapsed, models } };
      const [model, phase] = [...phases].find(([, p]) => p.kind !== 'resident') ?? [];
      return {
        status: 503,
        retryAfter: phase?.kind === 'failed' ? 10 : 2,
        body: {
          phase: phase?.kind ?? 'starting',
          ...(model === undefined ? {} : { model }),
          ...(phase?.kind === 'loading' ? { stage: phase.stage } : {}),
          ...(phase?.kind === 'failed' ? { error: { code: phase.code, message: phase.message } } : {}),
          elapsed,
          models,
        },
      };
    },
    stop() {
      stopped = true;
      unwatch?.();
      for (const timer of timers) clock.clearTimeout(timer);
      timers.clear();
    },
  };
}
