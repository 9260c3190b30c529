/**
 * The messages between the main thread and a model worker (`model-worker.ts`): types only, so the main thread's side
 * (`worker-client.ts`) never loads the worker's module, which imports transformers.js.
 */

import type { GenerateOptions, GenerateResult, Prompt, PromptSize } from './loader-types.js';

/** What a request answers with: a generation's result, or a prompt's size. */
export type WorkerResult = GenerateResult | PromptSize | TokenizerInfo;

/** What a `tokenizer` request answers: whether the model has a chat template (either file). */
export interface TokenizerInfo {
  readonly hasChatTemplate: boolean;
}

/** What the main thread passes as `workerData`. */
export interface ModelWorkerData {
  /** Root of modeldeck's cache; transformers.js's own `env.cacheDir` goes below it (never inside node_modules). */
  readonly cacheDir: string;
  /** `{cacheDir}/models`, set as `env.localModelPath`. */
  readonly modelsRoot: string;
}

/**
 * Requests from the main thread. Every request has an `id`; the worker answers each with `done` or `failed`.
 *
 * `close` stops a running generation at its next token, waits until no request is in flight, releases the ONNX
 * sessions and answers `done`: only then may the main thread terminate the worker. Terminating it while ONNX Runtime
 * is inside a native call (session creation, a generation step) aborts the whole process.
 */
export type WorkerRequest =
  | { readonly type: 'close'; readonly id: number }
  | { readonly type: 'tokenizer'; readonly id: number; readonly dir: string }
  | { readonly type: 'config'; readonly id: number; readonly dir: string }
  | {
      readonly type: 'weights';
      readonly id: number;
      readonly dir: string;
      readonly dtype: string;
      /** transformers.js's `model_file_name`: `model`, or `decoder_model_merged` for a legacy layout. */
      readonly modelFileName: string;
      readonly externalDataChunks: number;
    }
  | { readonly type: 'measure'; readonly id: number; readonly prompt: Prompt }
  | {
      readonly type: 'generate';
      readonly id: number;
      readonly prompt: Prompt;
      readonly options: GenerateOptions;
      /** An `Int32Array` over this buffer; the main thread stores 1 at index 0 to stop the generation. */
      readonly abort: SharedArrayBuffer;
    };

/** Messages from the worker. */
export type WorkerReply =
  | { readonly type: 'progress'; readonly id: number; readonly current: number; readonly total: number }
  | { readonly type: 'text'; readonly id: number; readonly text: string }
  | { readonly type: 'done'; readonly id: number; readonly result?: WorkerResult }
  /** `code`: loader-types.ts's `NO_CHAT_TEMPLATE` for a chat prompt to a model without a template; else absent. */
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly code?: string };
