/**
 * What the transformers.js loader's tests share: a mirror over copies of the generated tiny-chat, a cache directory,
 * loads that keep their events and dispose of their models when the file ends, and checks over loader events.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Mirror, MirrorOptions } from '../../src/mirror/mirror.js';
import {
  LoadError,
  type LoadedModel,
  type LoaderEvent,
  type ModelLoader,
  type ModelRef,
} from '../../src/server/loader-types.js';
import { demoModelsDir } from './demo.js';
import { startTestMirror } from './stack.js';

/** The ref of `id` at `revision`, as the server builds it. */
export const refOf = (id: string, revision = 'main'): ModelRef => ({ id, revision, key: `${id}@${revision}` });

/** A load's model and the events it reported. */
interface Loaded {
  readonly model: LoadedModel;
  readonly events: LoaderEvent[];
}

/** A failed load's error and the events it reported before failing. */
interface Failed {
  readonly error: LoadError;
  readonly events: LoaderEvent[];
}

/** The mirror, its root and a cache, torn down with the test file; see {@link startLoaderStack}. */
interface LoaderStack {
  /** The generated tiny-chat repository (the original the root's copies were made from). */
  readonly tinyDir: string;
  readonly mirror: Mirror;
  readonly cacheDir: string;
  /** Loads, keeping the events and disposing the model at the end of the file. */
  load(loader: ModelLoader, ref: ModelRef, signal?: AbortSignal): Promise<Loaded>;
  /** Loads when a failure is expected: its `LoadError` and events (throws if the load succeeds). */
  loadError(loader: ModelLoader, ref: ModelRef, signal?: AbortSignal): Promise<Failed>;
}

/**
 * Lays out a mirror root holding `modeldeck/tiny-chat` as generated, lets `layOut` add its own repositories (copies
 * of `tinyDir`, changed), and starts the mirror with `options`. Everything goes when `t` (the file's tap) ends.
 */
export async function startLoaderStack(
  t: Test,
  layOut: (root: string, tinyDir: string) => Promise<void>,
  options: Omit<MirrorOptions, 'root'> = {},
): Promise<LoaderStack> {
  const tinyDir = join(await demoModelsDir(), 'modeldeck', 'tiny-chat');
  const root = await mkdtemp(join(tmpdir(), 'modeldeck-loader-root-'));
  await cp(tinyDir, join(root, 'modeldeck', 'tiny-chat'), { recursive: true });
  await layOut(root, tinyDir);
  const mirror = await startTestMirror(root, options);
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-loader-cache-'));
  const models: LoadedModel[] = [];
  t.teardown(async () => {
    for (const model of models) await model.dispose();
    await mirror.close();
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });
  return {
    tinyDir,
    mirror,
    cacheDir,
    async load(loader, ref, signal) {
      const events: LoaderEvent[] = [];
      const model = await loader.load(ref, (e) => events.push(e), signal);
      models.push(model);
      return { model, events };
    },
    async loadError(loader, ref, signal) {
      const events: LoaderEvent[] = [];
      try {
        models.push(await loader.load(ref, (e) => events.push(e), signal));
      } catch (error) {
        if (error instanceof LoadError) return { error, events };
        throw error;
      }
      throw new Error(`${ref.key} loaded, but a failure was expected`);
    },
  };
}

/** The stages of a load's events, in order. */
export const stages = (events: readonly LoaderEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));

function progressOf(
  events: readonly LoaderEvent[],
  stage: 'download' | 'weights',
): { current: number; total: number }[] {
  return events.flatMap((e) =>
    e.type === 'progress' && e.stage === stage ? [{ current: e.current, total: e.total }] : [],
  );
}

/** Checks `stage`'s progress: from 0 to `total`, never backwards nor past it, after its stage event. */
export function assertProgress(
  t: Test,
  events: readonly LoaderEvent[],
  stage: 'download' | 'weights',
  total: number,
): void {
  const points = progressOf(events, stage);
  t.ok(points.length >= 2, `${stage}: reports progress`);
  t.same(points[0], { current: 0, total }, `${stage}: starts at 0 of ${total}`);
  t.ok(
    points.every((p) => p.total === total),
    `${stage}: the total never changes`,
  );
  const monotone = points.every((p, i) => p.current <= total && p.current >= (points[i - 1]?.current ?? 0));
  t.ok(monotone, `${stage}: never decreases, never exceeds`);
  t.equal(points.at(-1)?.current, total, `${stage}: ends at the total`);
  // Progress of a stage sits between its stage event and the next one.
  const start = events.findIndex((e) => e.type === 'stage' && e.stage === stage);
  const firstProgress = events.findIndex((e) => e.type === 'progress' && e.stage === stage);
  t.ok(start !== -1 && start < firstProgress, `${stage}: progress follows the stage event`);
}
