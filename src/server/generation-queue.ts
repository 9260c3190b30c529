/**
 * A resident model's generations, one at a time: the worker holds one ONNX session, and the seeded sampler is global
 * there. Each request waits for the previous one; an abort stops a running generation at its next token through a
 * flag shared with the worker.
 */

import {
  MODEL_UNLOADED,
  NO_CHAT_TEMPLATE,
  TEMPLATE_REFUSED,
  type GenerateOptions,
  type GenerateResult,
  type LoadedModel,
  type ModelRef,
  type Prompt,
  type PromptSize,
} from './loader-types.js';
import type { ModelWorkerHandle } from './worker-client.js';

/**
 * The resident model of `worker`, loaded from `weightBytes` bytes of weights in `dtype`, with a chat template or not
 * (each when known).
 */
export function createLoadedModel(
  ref: ModelRef,
  worker: ModelWorkerHandle,
  weightBytes?: number,
  dtype?: string,
  hasChatTemplate?: boolean,
): LoadedModel {
  // One generation at a time per model: the worker holds one ONNX session, and the seeded sampler is global there.
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;
  return {
    ref,
    ...(weightBytes === undefined ? {} : { weightBytes }),
    ...(dtype === undefined ? {} : { dtype }),
    ...(hasChatTemplate === undefined ? {} : { hasChatTemplate }),
    generate(prompt, options, onText, signal) {
      const run = async (): Promise<GenerateResult> => {
        if (disposed) throw unloadedError(ref);
        checkGenerateOptions(options);
        if (signal?.aborted === true) return { finishReason: 'stop', promptTokens: 0, completionTokens: 0 };
        const abort = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
        const flag = new Int32Array(abort);
        // A shared flag, not a message: the worker checks it between generation steps without yielding to its loop.
        const onAbort = (): void => {
          Atomics.store(flag, 0, 1);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const result = await worker
            .call(
              { type: 'generate', prompt: plainPrompt(prompt), options: plainOptions(options), abort },
              undefined,
              undefined,
              onText,
            )
            .catch((error: unknown) => {
              // The worker's calls fail when it is closed: that is the unload, not a failure of the generation.
              if (disposed) throw unloadedError(ref, error);
              if (errorCode(error) === NO_CHAT_TEMPLATE || errorCode(error) === TEMPLATE_REFUSED) throw error;
              throw new Error(`generation with ${ref.key} failed: ${describe(error)}`, { cause: error });
            });
          if (result === undefined || !('finishReason' in result)) {
            throw new Error(`generation with ${ref.key} returned no result`);
          }
          return result;
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    // Not queued: tokenizing is quick, and the worker answers it between the steps of a running generation.
    async measure(prompt) {
      if (disposed) throw unloadedError(ref);
      const result = await worker.call({ type: 'measure', prompt: plainPrompt(prompt) }).catch((error: unknown) => {
        throw disposed ? unloadedError(ref, error) : error;
      });
      if (result === undefined || !('contextLength' in result)) {
        throw new Error(`measuring a prompt of ${ref.key} returned no size`);
      }
      return result satisfies PromptSize;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await worker.close();
    },
  };
}

function checkGenerateOptions(options: GenerateOptions): void {
  if (!Number.isSafeInteger(options.maxTokens) || options.maxTokens < 1) {
    throw new RangeError(`maxTokens must be a positive integer, got ${options.maxTokens}`);
  }
  if (options.temperature !== undefined && !(options.temperature >= 0)) {
    throw new RangeError(`temperature must be at least 0, got ${options.temperature}`);
  }
  if (options.topP !== undefined && !(options.topP > 0 && options.topP <= 1)) {
    throw new RangeError(`topP must be in (0, 1], got ${options.topP}`);
  }
  if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) {
    throw new RangeError(`seed must be a non-negative integer, got ${options.seed}`);
  }
}

/** Copies only the fields the worker reads, so no caller object has to survive a structured clone. */
function plainPrompt(prompt: Prompt): Prompt {
  return typeof prompt === 'string' ? prompt : prompt.map((m) => ({ role: m.role, content: m.content }));
}

function plainOptions(options: GenerateOptions): GenerateOptions {
  return {
    maxTokens: options.maxTokens,
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.topP === undefined ? {} : { topP: options.topP }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.stop === undefined ? {} : { stop: [...options.stop] }),
  };
}

/** The error of a call that met its model unloaded (code {@link MODEL_UNLOADED}). */
function unloadedError(ref: ModelRef, cause?: unknown): Error {
  return Object.assign(new Error(`the model ${ref.key} was unloaded`, { cause }), { code: MODEL_UNLOADED });
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
