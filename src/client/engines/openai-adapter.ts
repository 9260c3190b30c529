/**
 * vLLM and every other OpenAI-compatible server (vLLM ~v0.32: `vllm/entrypoints/openai/api_server.py`'s `/health`,
 * docs `usage/metrics`): the one module that knows their routes. Such a server loads no model on request: it serves
 * the model it was started with. A load is therefore a watch: `GET /health` answering 503 is the stage `starting`
 * (asked again each second), 200 (or 404, a server without the route) goes on to `GET /v1/models`, which must list
 * the model; then it is ready. A refused connection is a network failure the session's reconnect retries (vLLM does
 * not listen before its model is loaded). Chat is OpenAI's, as modeldeck speaks it.
 */

import type { LoadEvent } from '../../protocol/events.js';
import { streamChat } from '../chat-stream.js';
import type { EngineAdapter } from '../engine-adapter.js';
import type { RequestOptions } from '../http.js';
import type { LoadOutcome, SubscribeLoadOptions } from '../load-subscription.js';
import type { AdminOutcome } from '../model-admin.js';
import { pause, send, sendForJson } from './engine-http.js';

/** Between two `/health` probes of a starting server, in ms. */
const STARTING_POLL_MS = 1000;

async function waitHealthy(options: SubscribeLoadOptions, emit: (event: LoadEvent) => void) {
  let starting = false;
  for (;;) {
    const health = await send(options, 'GET', '/health');
    if (health.ok) {
      await health.response.body?.cancel().catch(() => {});
      return { ok: true as const, starting };
    }
    if (health.failure.status === 404) return { ok: true as const, starting };
    if (health.failure.status !== 503) return { ok: false as const, failure: health.failure };
    if (!starting) {
      options.onAccepted?.();
      emit({ status: 'loading', model: options.model, stage: 'starting' });
    }
    starting = true;
    await pause(STARTING_POLL_MS, options.signal);
    if (options.signal?.aborted === true)
      return { ok: false as const, failure: { kind: 'aborted' as const, message: 'closed' } };
  }
}

async function load(options: SubscribeLoadOptions): Promise<LoadOutcome> {
  const emit = (event: LoadEvent): void => options.onEvent?.(event, JSON.stringify(event));
  const healthy = await waitHealthy(options, emit);
  if (!healthy.ok) return healthy;
  const listed = await sendForJson(options, 'GET', '/v1/models');
  if (!listed.ok) return listed;
  const data = Array.isArray(listed.value['data']) ? (listed.value['data'] as unknown[]) : [];
  const ids = data.flatMap((entry) => {
    const id = (entry as Record<string, unknown> | null)?.['id'];
    return typeof id === 'string' ? [id] : [];
  });
  if (!ids.includes(options.model)) {
    const message = `${options.model} is not served here (it serves ${ids.join(', ') || 'nothing'}); an OpenAI-compatible server loads no model on request`;
    emit({ status: 'error', model: options.model, message });
    return { ok: false, failure: { kind: 'server', message } };
  }
  if (!healthy.starting) options.onAccepted?.();
  // `cached`: it was serving before the session asked; a start-up the session watched is a fresh load.
  const ready = { status: 'ready', model: options.model, cached: !healthy.starting, size_bytes: null } as const;
  emit(ready);
  return { ok: true, event: ready };
}

/** One gauge's value from Prometheus text: the sum over its label sets (engines), or undefined when absent. */
function gauge(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/**
 * vLLM's `/metrics` (names from `vllm/v1/metrics/loggers.py`): requests running and waiting, KV-cache use
 * (`vllm:kv_cache_usage_perc`, `vllm:gpu_cache_usage_perc` before ~v0.10) and the mean time to first token; a server
 * without `vllm:` metrics has no line (an OpenAI-compatible server says nothing more than its list).
 */
async function serverFacts(options: RequestOptions): Promise<AdminOutcome<string[]>> {
  const answer = await send(options, 'GET', '/metrics', undefined, 'text/plain');
  if (!answer.ok) return answer.failure.status === 404 ? { ok: true, value: [] } : answer;
  const text = await answer.response.text().catch(() => '');
  if (!text.includes('vllm:')) return { ok: true, value: [] };
  const figure = (value: number | undefined, say: (v: number) => string): string =>
    value === undefined ? 'unknown' : say(value);
  const kv = gauge(text, 'vllm:kv_cache_usage_perc') ?? gauge(text, 'vllm:gpu_cache_usage_perc');
  const ttftSum = gauge(text, 'vllm:time_to_first_token_seconds_sum');
  const ttftCount = gauge(text, 'vllm:time_to_first_token_seconds_count');
  const ttft = ttftSum !== undefined && ttftCount !== undefined && ttftCount > 0 ? ttftSum / ttftCount : undefined;
  return {
    ok: true,
    value: [
      `vllm: ${figure(gauge(text, 'vllm:num_requests_running'), String)} running · ${figure(gauge(text, 'vllm:num_requests_waiting'), String)} waiting · KV cache ${figure(kv, (v) => `${Math.round(v * 100)}%`)} · TTFT mean ${figure(ttft, (v) => `${Math.round(v * 1000)} ms`)}`,
    ],
  };
}

/** The adapter of vLLM and other OpenAI-compatible servers. */
export const openaiAdapter: EngineAdapter = { kind: 'openai', load, chat: streamChat, serverFacts };
