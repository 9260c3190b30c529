/**
 * The worker thread that holds one model: it loads the tokenizer, the config and the ONNX weights with
 * transformers.js from a complete snapshot in modeldeck's cache, and then runs generations, one at a time. Session
 * creation and every generation step are synchronous native calls; running them here keeps the server's event loop
 * free.
 *
 * This is the only file of modeldeck that imports `@huggingface/transformers` and touches its `env`. The worker
 * never uses the network: `env.allowRemoteModels` is off, `env.fetch` throws, and files are read from the snapshot
 * directory (passed to transformers.js as an absolute path: its Hub-id rules refuse our three-level
 * `org/name/revision` layout and the `--` of `refs--pr--1`, while any absolute path is read as a local directory).
 *
 * ## The `weights` request
 *
 * It builds the inference session and nothing else: the read-through that `weights` progress counts runs on the main
 * thread meanwhile (`weights-reader.ts`, where the unit is described). transformers.js hands ONNX Runtime the file
 * paths. Handing it the bytes instead (`env.customCache`) was measured (`npm run bench`, load overhead): a session
 * built from an in-memory buffer took three times as long as one built from the path, and the buffer doubled the
 * memory of a load.
 *
 * ## Sampling and seeding
 *
 * `temperature` defaults to 1 (OpenAI's default) and samples; 0 decodes greedily. `top_p` is passed when given; other
 * sampling settings (such as `top_k`) come from the model's `generation_config.json`.
 *
 * transformers.js 4.3.1 samples with its own Mersenne Twister (`random`, `utils/random.js`), not `Math.random`. A
 * generation with a seed seeds it (`random.seed(seed)`); one without reseeds it from OS entropy, so one seeded
 * request does not make the next unseeded one predictable. Generations never overlap within a worker, so the global
 * generator is not shared between them.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

import {
  AutoConfig,
  AutoModelForCausalLM,
  AutoTokenizer,
  BaseStreamer,
  LogLevel,
  StoppingCriteria,
  env,
  random,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  type PretrainedConfig,
  type Tensor,
} from '@huggingface/transformers';

import {
  NO_CHAT_TEMPLATE,
  TEMPLATE_REFUSED,
  type ChatMessage,
  type GenerateResult,
  type Prompt,
  type PromptSize,
} from './loader-types.js';
import { SESSION_OPTIONS } from './session-options.js';
import { createIncrementalDecoder, createStopFilter, createTextBatcher } from './text-tools.js';
import type { ModelWorkerData, TokenizerInfo, WorkerReply, WorkerRequest } from './worker-messages.js';

interface LoadedState {
  /** Set by `close`: generations stop at their next token. */
  closing: boolean;
  tokenizer?: PreTrainedTokenizer;
  /** The repository's `chat_template.jinja`, which wins over `tokenizer_config.json`'s template (as in transformers). */
  chatTemplate?: string;
  config?: PretrainedConfig;
  model?: PreTrainedModel;
}

function configureEnv({ cacheDir, modelsRoot }: ModelWorkerData): void {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = modelsRoot;
  env.cacheDir = join(cacheDir, 'transformers-js');
  // Nothing is written by transformers.js: modeldeck's snapshot directory is the only cache.
  env.useFSCache = false;
  env.useBrowserCache = false;
  env.useCustomCache = false;
  env.fetch = () => Promise.reject(new Error('modeldeck: the model worker never uses the network'));
  env.logLevel = LogLevel.ERROR;
}

async function handle(
  request: Exclude<WorkerRequest, { type: 'close' }>,
  state: LoadedState,
  send: (reply: WorkerReply) => void,
): Promise<GenerateResult | PromptSize | TokenizerInfo | undefined> {
  switch (request.type) {
    case 'tokenizer': {
      state.tokenizer = await AutoTokenizer.from_pretrained(request.dir);
      const jinja = join(request.dir, CHAT_TEMPLATE_FILE);
      if (existsSync(jinja)) state.chatTemplate = readFileSync(jinja, 'utf8');
      return { hasChatTemplate: chatTemplateOf(state) !== undefined };
    }
    case 'config':
      state.config = await AutoConfig.from_pretrained(request.dir);
      return undefined;
    case 'weights':
      state.model = await loadWeights(request, state);
      return undefined;
    case 'measure':
      return measure(request.prompt, state);
    case 'generate':
      return generate(request, state, (text) => send({ type: 'text', id: request.id, text }));
    default: {
      const never: never = request;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
}

async function loadWeights(
  request: Extract<WorkerRequest, { type: 'weights' }>,
  state: LoadedState,
): Promise<PreTrainedModel> {
  return AutoModelForCausalLM.from_pretrained(request.dir, {
    ...(state.config === undefined ? {} : { config: state.config }),
    dtype: request.dtype as 'fp32',
    model_file_name: request.modelFileName,
    device: 'cpu',
    use_external_data_format: request.externalDataChunks === 0 ? false : request.externalDataChunks,
    session_options: SESSION_OPTIONS,
  });
}

/** The template chats are formatted with: `chat_template.jinja`'s, else `tokenizer_config.json`'s; undefined: none. */
function chatTemplateOf(state: LoadedState): string | undefined {
  const template = state.chatTemplate ?? (state.tokenizer?.chat_template as string | null | undefined);
  return template === undefined || template === null || template === '' ? undefined : template;
}

/** The file a repository may keep its chat template in, beside (and instead of) `tokenizer_config.json`'s. */
const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/**
 * The prompt's tokens, the way {@link generate} tokenizes it: messages with the chat template applied, text as it is
 * (with the special tokens the tokenizer adds, such as a BOS). Messages to a model without a template fail with the
 * code {@link NO_CHAT_TEMPLATE}, and messages the template refuses with {@link TEMPLATE_REFUSED}; the chat route
 * answers both with a 400.
 */
function promptInputs(prompt: Prompt, state: LoadedState): { input_ids: Tensor; attention_mask: Tensor } {
  const { tokenizer } = state;
  if (tokenizer === undefined) throw new Error('the model is not loaded');
  if (typeof prompt === 'string') {
    return tokenizer(prompt) as { input_ids: Tensor; attention_mask: Tensor };
  }
  const template = chatTemplateOf(state);
  if (template === undefined) {
    throw Object.assign(
      new Error(
        'this model has no chat template (neither chat_template.jinja nor one in tokenizer_config.json): it is a ' +
          'base model, so send it plain text on /v1/completions instead',
      ),
      { code: NO_CHAT_TEMPLATE },
    );
  }
  try {
    return tokenizer.apply_chat_template(prompt as ChatMessage[], {
      chat_template: template,
      add_generation_prompt: true,
      return_dict: true,
    }) as { input_ids: Tensor; attention_mask: Tensor };
  } catch (error) {
    // The template itself refused these messages (or cannot render them): the request's problem, not the server's.
    throw Object.assign(new Error(describe(error), { cause: error }), { code: TEMPLATE_REFUSED });
  }
}

/** The keys transformers' configs name their context length with, most common first. */
const CONTEXT_KEYS = ['max_position_embeddings', 'n_positions', 'max_sequence_length', 'n_ctx', 'seq_length'];

function measure(prompt: Prompt, state: LoadedState): PromptSize {
  const inputs = promptInputs(prompt, state);
  const config = (state.model?.config ?? state.config ?? {}) as Record<string, unknown>;
  const found = CONTEXT_KEYS.map((key) => config[key]).find((v) => typeof v === 'number' && v > 0);
  return { promptTokens: Number(inputs.input_ids.dims.at(-1) ?? 0), contextLength: found as number | undefined };
}

async function generate(
  request: Extract<WorkerRequest, { type: 'generate' }>,
  state: LoadedState,
  onText: (text: string) => void,
): Promise<GenerateResult> {
  const { tokenizer, model } = state;
  if (tokenizer === undefined || model === undefined) throw new Error('the model is not loaded');
  const { options } = request;
  const abortFlag = new Int32Array(request.abort);

  const inputs = promptInputs(request.prompt, state);
  const promptTokens = Number(inputs.input_ids.dims.at(-1) ?? 0);

  const stopFilter = createStopFilter(options.stop ?? []);
  const stopsText = (options.stop ?? []).some((stop) => stop.length > 0);
  const batcher = createTextBatcher(onText);
  const decoder = createIncrementalDecoder((ids) => tokenizer.decode(ids, { skip_special_tokens: true }));
  const generated: bigint[] = [];
  let promptSeen = false;

  // Streams text as tokens arrive. generate() calls put() before the stopping criteria of the same step, so a stop
  // string is seen on the very token that completes it.
  const streamer = new (class extends BaseStreamer {
    override put(value: bigint[][]): void {
      if (!promptSeen) {
        promptSeen = true;
        return;
      }
      const token = value[0]?.[0];
      if (token === undefined) return;
      generated.push(token);
      // Stop strings must be looked for on every token's text; without any, the text is decoded only when it is
      // sent, once for all the tokens since the last message (a fast model sends one per millisecond, not per token).
      if (stopsText) batcher.push(stopFilter.push(decoder.push(generated)));
      else batcher.pushLazy(() => decoder.push(generated));
    }
    override end(): void {
      batcher.push(stopFilter.flush());
      batcher.flush();
    }
  })();
  const stopper = new (class extends StoppingCriteria {
    override _call(inputIds: number[][]): boolean[] {
      const stop = stopFilter.stopped || Atomics.load(abortFlag, 0) === 1 || state.closing;
      return inputIds.map(() => stop);
    }
  })();

  const temperature = options.temperature ?? 1;
  if (options.seed === undefined) random.seed();
  else random.seed(options.seed);

  try {
    await model.generate({
      ...inputs,
      max_new_tokens: options.maxTokens,
      do_sample: temperature > 0,
      ...(temperature > 0 ? { temperature } : {}),
      ...(options.topP === undefined ? {} : { top_p: options.topP }),
      streamer,
      stopping_criteria: [stopper],
    } as unknown as Parameters<PreTrainedModel['generate']>[0]);
  } finally {
    // Text generated before a failure still reaches the client, ahead of the failure itself.
    batcher.flush();
  }

  const eos = eosTokenIds(model);
  const last = generated.at(-1);
  const endedOnEos = last !== undefined && eos.some((id) => BigInt(id) === last);
  // generate() ends on EOS, on our stopper (stop string or abort), or on a length limit: maxTokens or the model's
  // context (max_position_embeddings). Only the last is `length`.
  const stopped = stopFilter.stopped || Atomics.load(abortFlag, 0) === 1 || endedOnEos;
  return {
    finishReason: stopped ? 'stop' : 'length',
    promptTokens,
    completionTokens: generated.length,
  };
}

function eosTokenIds(model: PreTrainedModel): number[] {
  const fromGeneration = (model.generation_config as { eos_token_id?: unknown } | null)?.eos_token_id;
  const fromConfig = (model.config as { eos_token_id?: unknown }).eos_token_id;
  const value = fromGeneration ?? fromConfig;
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((id): id is number => typeof id === 'number');
  return [];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Last, so that every declaration above is initialised before the first message arrives.
const port = parentPort;
if (port !== null) {
  const data = workerData as ModelWorkerData;
  configureEnv(data);
  const state: LoadedState = { closing: false };
  const inFlight = new Set<Promise<void>>();
  const send = (reply: WorkerReply): void => port.postMessage(reply);
  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'close') {
      state.closing = true;
      void Promise.allSettled([...inFlight])
        .then(() => state.model?.dispose())
        .catch(() => undefined)
        .then(() => send({ type: 'done', id: request.id }));
      return;
    }
    const work: Promise<void> = handle(request, state, send).then(
      (result) => send({ type: 'done', id: request.id, ...(result === undefined ? {} : { result }) }),
      (error: unknown) => {
        const code = (error as { code?: unknown } | null)?.code;
        send({
          type: 'failed',
          id: request.id,
          message: describe(error),
          ...(typeof code === 'string' ? { code } : {}),
        });
      },
    );
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
}
