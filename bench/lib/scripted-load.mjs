/**
 * The scripted load of the fan-out and event-feed benchmarks: the loader events after `processor`, one wire frame per
 * step, and the wire event each step produces (for the plain `node:http` baselines, which write the same frames).
 */

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
