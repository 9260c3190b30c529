// A scripted loader whose loads (and generations) wait until the test lets them go, so that a test can act while a
// load or a reply is in flight: hold a stream open past a timeout, stop the server mid-load, unload mid-reply.
import {
  LoadError,
  type Prompt,
  type GenerateOptions,
  type LoadedModel,
  type ModelLoader,
  type ModelRef,
} from '../../src/server/loader-types.js';

/** A load or generation that has started and waits for the test. */
export interface Gate {
  /** Lets it finish. */
  release(): void;
}

/** The loader and its handles. */
export interface GatedLoader {
  readonly loader: ModelLoader;
  /** Resolves with the gate of the next load of `key` (`org/name@rev`) once it has started. */
  loadStarted(key: string): Promise<Gate>;
  /** Resolves once a generation started, with the prompt it got and a gate; its text goes out when released. */
  generationStarted(): Promise<Gate & { messages: Prompt; options: GenerateOptions }>;
  /** Loads the loader was asked for, by key, in order. */
  readonly started: string[];
  /** Loads aborted through their signal, by key. */
  readonly aborted: string[];
  /** Generations stopped through their signal. */
  readonly stoppedGenerations: number;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Loads report `processor`, then wait for their gate; a released load resolves with a model whose generations
 * report their start and wait for their own gate, then produce `reply` (one piece per word) and stop.
 */
export function gatedLoader(reply = 'hello from the gated model'): GatedLoader {
  const loadWaiters = new Map<string, ((gate: Gate) => void)[]>();
  const startedLoads = new Map<string, Gate[]>();
  const genWaiters: ((gate: Gate & { messages: Prompt; options: GenerateOptions }) => void)[] = [];
  const startedGens: (Gate & { messages: Prompt; options: GenerateOptions })[] = [];
  const aborted: string[] = [];
  const started: string[] = [];
  let stoppedGenerations = 0;

  // A load asking for dtypes gets the first of them (as if the repository had them all).
  const model = (ref: ModelRef, dtype?: string): LoadedModel => ({
    ref,
    ...(dtype === undefined ? {} : { dtype }),
    async generate(messages, options, onText, signal) {
      const go = deferred<void>();
      const gate = { release: () => go.resolve(), messages, options };
      const waiter = genWaiters.shift();
      if (waiter) waiter(gate);
      else startedGens.push(gate);
      const stopped = new Promise<'stopped'>((resolve) => {
        if (signal?.aborted) resolve('stopped');
        signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
      });
      const outcome = await Promise.race([go.promise.then(() => 'go' as const), stopped]);
      if (outcome === 'stopped') {
        stoppedGenerations++;
        return { finishReason: 'stop', promptTokens: 3, completionTokens: 0 };
      }
      const words = reply.split(' ');
      words.forEach((word, i) => onText(i === 0 ? word : ` ${word}`));
      return { finishReason: 'stop', promptTokens: 3, completionTokens: words.length };
    },
    dispose: async () => undefined,
  });

  const loader: ModelLoader = {
    load(ref, onEvent, signal, options) {
      started.push(ref.key);
      onEvent({ type: 'stage', stage: 'processor' });
      return new Promise<LoadedModel>((resolve, reject) => {
        const gate = { release: () => resolve(model(ref, options?.dtype?.[0])) };
        signal?.addEventListener(
          'abort',
          () => {
            aborted.push(ref.key);
            // As the real loader does: an aborted load rejects with ABORTED.
            reject(new LoadError('ABORTED', `loading ${ref.key} was aborted`));
          },
          { once: true },
        );
        const waiter = loadWaiters.get(ref.key)?.shift();
        if (waiter) waiter(gate);
        else startedLoads.set(ref.key, [...(startedLoads.get(ref.key) ?? []), gate]);
      });
    },
    listCached: async () => [],
  };

  return {
    loader,
    loadStarted(key) {
      const ready = startedLoads.get(key)?.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => loadWaiters.set(key, [...(loadWaiters.get(key) ?? []), resolve]));
    },
    generationStarted() {
      const ready = startedGens.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => genWaiters.push(resolve));
    },
    started,
    aborted,
    get stoppedGenerations() {
      return stoppedGenerations;
    },
  };
}
