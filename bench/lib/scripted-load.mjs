/**
 * The scripted load of the fan-out and event-feed benchmarks: the loader events after `processor`, one wire frame per
 * step, and the wire event each step produces (for the plain `node:http` baselines, which write the same frames).
 */

import { monoMs, sleep } from './common.mjs';

/**
 * A loader whose one load reports `processor`, then waits: {@link take} hands out its run, which plays
 * {@link scriptSteps} at `spacingMs` apart and resolves with the monotonic time each step was emitted at (`emitted`,
 * the terminal one included) and how long the server took, synchronously, to hand each step's frame to every socket
 * (`spent`: coalescer, serialisation, the writes; the terminal frame goes out in a later turn and is not in it).
 */
export function createScriptedLoader() {
  let waiting;
  const loader = {
    load(ref, onEvent) {
      onEvent({ type: 'stage', stage: 'processor' });
      return new Promise((resolve) => {
        waiting = async ({ spacingMs, steps }) => {
          const emitted = [];
          const spent = [];
          for (const step of scriptSteps(steps)) {
            await sleep(spacingMs);
            const at = monoMs();
            emitted.push(at);
            for (const event of step) onEvent(event);
            spent.push(monoMs() - at);
          }
          await sleep(spacingMs);
          emitted.push(monoMs());
          resolve({ ref, generate: () => Promise.reject(new Error('scripted')), dispose: async () => undefined });
          return { emitted, spent };
        };
      });
    },
    listCached: async () => [],
  };
  return {
    loader,
    /** True while a load waits for its run. */
    waiting: () => waiting !== undefined,
    /** The waiting load's run (once), or undefined. */
    take() {
      const run = waiting;
      waiting = undefined;
      return run;
    },
  };
}

/** Loader events of a scripted load after `processor`: each step produces exactly one wire frame. */
export function scriptSteps(steps) {
  const downloadSteps = Math.max(2, Math.floor((steps - 1) / 2));
  const weightSteps = Math.max(2, steps - 1 - downloadSteps);
  const bytes = 100_000_000;
  const out = [[{ type: 'stage', stage: 'config' }]];
  for (let i = 0; i < downloadSteps; i += 1) {
    const progress = {
      type: 'progress',
      stage: 'download',
      current: Math.round((bytes * i) / (downloadSteps - 1)),
      total: bytes,
    };
    out.push(i === 0 ? [{ type: 'stage', stage: 'download' }, progress] : [progress]);
  }
  for (let i = 0; i < weightSteps; i += 1) {
    const progress = { type: 'progress', stage: 'weights', current: i * 10, total: (weightSteps - 1) * 10 };
    out.push(i === 0 ? [{ type: 'stage', stage: 'weights' }, progress] : [progress]);
  }
  return out;
}

/** The wire event one step of {@link scriptSteps} produces. */
export function wireEvent(model, step) {
  const last = step.at(-1);
  return last.type === 'stage'
    ? { status: 'loading', model, stage: last.stage }
    : { status: 'loading', model, stage: last.stage, progress: { current: last.current, total: last.total } };
}
