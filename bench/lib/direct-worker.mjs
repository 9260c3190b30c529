/**
 * The "direct" baseline: transformers.js used as a plain script would use it, in a worker thread as the server's model
 * worker is (`src/server/model-worker.ts`), reading the same snapshot directory from the same disk cache with the same
 * options (absolute snapshot path, fp32 and `use_external_data_format` from the snapshot's own files, CPU, remote
 * models off, the server's ONNX Runtime session options). Same session options, because the benchmarks measure what
 * modeldeck's own code costs: a spinning direct session would also steal a core from the server's generation when
 * the two take turns in one process. What it leaves out is exactly what modeldeck adds: the HTTP request and its event
 * stream, the revision resolved and the snapshot listed, the weight bytes read through in 1 MiB blocks for progress
 * (beside the session build), the separate config step and the worker's message round trips.
 *
 * `import('@huggingface/transformers')` happens inside the timed region, because the server's worker pays it on
 * every load too.
 *
 * Messages in: `{type: 'generate', messages, maxTokens, temperature, seed, streamer: 'text' | 'count'}`, `{type: 'close'}`.
 * Messages out: `{type: 'loaded', importMs, loadMs}`, `{type: 'generated', ...}`, `{type: 'failed', message}`.
 */

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

import { SESSION_OPTIONS } from '../../dist/server/session-options.js';

const port = parentPort;
if (port === null) throw new Error('direct-worker.mjs runs in a worker thread');

/** @type {{ cacheDir: string, modelsRoot: string, dir: string }} */
const data = workerData;

try {
  const started = performance.now();
  const { AutoModelForCausalLM, AutoTokenizer, BaseStreamer, LogLevel, TextStreamer, env, random } =
    await import('@huggingface/transformers');
  const imported = performance.now();
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = data.modelsRoot;
  env.cacheDir = join(data.cacheDir, 'transformers-js');
  env.logLevel = LogLevel.ERROR;

  // The demo models are fp32, with `model.onnx_data`, `model.onnx_data_1`, … chunks when they have external data.
  const chunks = (await readdir(join(data.dir, 'onnx'))).filter((name) =>
    /^model\.onnx_data(_\d+)?$/.test(name),
  ).length;
  const tokenizer = await AutoTokenizer.from_pretrained(data.dir);
  const model = await AutoModelForCausalLM.from_pretrained(data.dir, {
    dtype: 'fp32',
    device: 'cpu',
    use_external_data_format: chunks === 0 ? false : chunks,
    session_options: SESSION_OPTIONS,
  });
  const loaded = performance.now();
  port.postMessage({ type: 'loaded', importMs: imported - started, loadMs: loaded - imported });

  port.on('message', async (message) => {
    try {
      if (message.type === 'close') {
        await model.dispose();
        port.postMessage({ type: 'closed' });
        return;
      }
      if (message.type !== 'generate') throw new Error(`unknown message ${message.type}`);
      const inputs = tokenizer.apply_chat_template(message.messages, {
        add_generation_prompt: true,
        return_dict: true,
      });
      let promptSeen = false;
      let tokens = 0;
      let firstTokenMs;
      let text = '';
      // `text`: the library's own TextStreamer, as a caller streaming text would use it (it decodes as tokens
      // come and calls back with whole words). `count`: only counts tokens, the least a streaming caller can do.
      const streamer =
        message.streamer === 'text'
          ? new (class extends TextStreamer {
              put(value) {
                if (promptSeen) {
                  tokens += 1;
                  firstTokenMs ??= performance.now() - begin;
                }
                promptSeen = true;
                super.put(value);
              }
            })(tokenizer, {
              skip_prompt: true,
              skip_special_tokens: true,
              callback_function: (piece) => {
                text += piece;
              },
            })
          : new (class extends BaseStreamer {
              put() {
                if (!promptSeen) {
                  promptSeen = true;
                  return;
                }
                tokens += 1;
                firstTokenMs ??= performance.now() - begin;
              }
              end() {}
            })();
      random.seed(message.seed);
      const begin = performance.now();
      await model.generate({
        ...inputs,
        max_new_tokens: message.maxTokens,
        do_sample: true,
        temperature: message.temperature,
        streamer,
      });
      const totalMs = performance.now() - begin;
      port.postMessage({ type: 'generated', tokens, firstTokenMs, totalMs, text });
    } catch (error) {
      port.postMessage({ type: 'failed', message: error instanceof Error ? error.stack : String(error) });
    }
  });
} catch (error) {
  port.postMessage({ type: 'failed', message: error instanceof Error ? error.stack : String(error) });
}
