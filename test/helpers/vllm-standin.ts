import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for vLLM's OpenAI-compatible server, built from its docs and the team's reference (`vllm-project/vllm`
 * ~v0.32: `vllm/entrypoints/openai/api_server.py`, `vllm/v1/metrics/loggers.py`, docs `usage/metrics`), here as a
 * server that listens while its model starts (a generic OpenAI-compatible server, or vLLM behind a proxy):
 *
 * - `GET /health`: 503 with an empty body while starting, then 200 with an empty body.
 * - `GET /v1/models`: 503 while starting; then ModelCards (`id`, `object`, `created`, `owned_by: "vllm"`, `root`,
 *   `parent`, `max_model_len`, `permission[]`). `GET /version` `{"version"}`.
 * - `GET /metrics`: Prometheus text with `model_name` and `engine` labels: the gauges `vllm:num_requests_running`,
 *   `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`, the counters `vllm:prompt_tokens_total`,
 *   `vllm:generation_tokens_total`, and the histogram `vllm:time_to_first_token_seconds`.
 * - `POST /v1/chat/completions`: SSE; the first chunk `{"role": "assistant", "content": ""}`, content chunks, a
 *   `finish_reason` chunk, a usage chunk (`choices: []`) only with `stream_options.include_usage`, `data: [DONE]`.
 *   An unknown model is 404 `{"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", …}}`.
 * - Anything else: FastAPI's 404 `{"detail": "Not Found"}`.
 */
export interface VllmStandin {
  readonly url: string;
  /** Every request it answered, `METHOD /path`, in order. */
  readonly requests: string[];
  /** The engine is up: `/health` answers 200 from now on. */
  becomeReady(): void;
  close(): Promise<void>;
}

/** Options of {@link startVllmStandin}. */
export interface VllmStandinOptions {
  /** The one model it serves. */
  readonly model: string;
  /** Starts ready (default) or starting (`/health` 503 until {@link VllmStandin.becomeReady}). */
  readonly starting?: boolean;
  /** The words of every reply. */
  readonly reply?: readonly string[];
  /** Requests waiting, as `/metrics` reports them (default 2). */
  readonly waiting?: number;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown> | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Starts the stand-in on 127.0.0.1:0. */
export async function startVllmStandin(options: VllmStandinOptions): Promise<VllmStandin> {
  let ready = options.starting !== true;
  let running = 0;
  let promptTokens = 0;
  let generated = 0;
  const requests: string[] = [];
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  function metrics(): string {
    const labels = `{engine="0",model_name="${options.model}"}`;
    return [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      `vllm:num_requests_running${labels} ${running}.0`,
      '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
      '# TYPE vllm:num_requests_waiting gauge',
      `vllm:num_requests_waiting${labels} ${options.waiting ?? 2}.0`,
      '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.',
      '# TYPE vllm:kv_cache_usage_perc gauge',
      `vllm:kv_cache_usage_perc${labels} 0.25`,
      '# TYPE vllm:prompt_tokens_total counter',
      `vllm:prompt_tokens_total${labels} ${promptTokens}.0`,
      '# TYPE vllm:generation_tokens_total counter',
      `vllm:generation_tokens_total${labels} ${generated}.0`,
      '# TYPE vllm:time_to_first_token_seconds histogram',
      `vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="${options.model}"} 1.0`,
      `vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="${options.model}"} 1.0`,
      `vllm:time_to_first_token_seconds_count${labels} 1.0`,
      `vllm:time_to_first_token_seconds_sum${labels} 0.042`,
      '',
    ].join('\n');
  }

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === null)
      return json(res, 400, { error: { message: 'invalid JSON', type: 'BadRequestError', code: 400 } });
    if (body['model'] !== options.model) {
      const message = `The model \`${String(body['model'])}\` does not exist.`;
      return json(res, 404, { error: { message, type: 'NotFoundError', param: null, code: 404 } });
    }
    const id = 'chatcmpl-standin';
    const base = { id, object: 'chat.completion.chunk', created: 1_700_000_000, model: options.model };
    const send = (data: unknown): boolean => res.write(`data: ${JSON.stringify(data)}\n\n`);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    running++;
    const words = options.reply ?? ['Hello', ' from', ' vLLM'];
    send({
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    });
    for (const word of words) {
      await sleep(5);
      send({ ...base, choices: [{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }] });
    }
    send({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop', stop_reason: null }] });
    promptTokens += 9;
    generated += words.length;
    const include = (body['stream_options'] as Record<string, unknown> | undefined)?.['include_usage'] === true;
    if (include) {
      const usage = { prompt_tokens: 9, total_tokens: 9 + words.length, completion_tokens: words.length };
      send({ ...base, choices: [], usage });
    }
    res.end('data: [DONE]\n\n');
    running--;
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push(`${req.method} ${path}`);
    const handle = async (): Promise<void> => {
      switch (`${req.method} ${path}`) {
        case 'GET /health':
          res.writeHead(ready ? 200 : 503);
          return void res.end();
        case 'GET /version':
          return json(res, 200, { version: '0.32.0' });
        case 'GET /v1/models':
          if (!ready) return json(res, 503, { detail: 'Service Unavailable' });
          return json(res, 200, {
            object: 'list',
            data: [
              {
                id: options.model,
                object: 'model',
                created: 1_700_000_000,
                owned_by: 'vllm',
                root: options.model,
                parent: null,
                max_model_len: 4096,
                permission: [{ id: 'modelperm-standin', object: 'model_permission', allow_sampling: true }],
              },
            ],
          });
        case 'GET /metrics':
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          return void res.end(metrics());
        case 'POST /v1/chat/completions':
          return chat(req, res);
        default:
          return json(res, 404, { detail: 'Not Found' });
      }
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { detail: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    becomeReady() {
      ready = true;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
