import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for llama.cpp's `llama-server` in router mode. Its routes, bodies and `GET /models/sse` events follow
 * `tools/server/server-models.cpp` as read at ggml-org/llama.cpp@00dd0816129a5210351c78bb90e0828f8eb69f99
 * (`server_models::notify_sse`, `load`, `update_status`, `update_download_progress`, `server_models_routes`):
 * `GET /props` without `model` answering `{"role": "router", …}`; `GET /models` entries `{id, object, owned_by:
 * "llamacpp", created, status: {value, args, exit_code?, failed?}}`, listing only the models the router has (a model
 * still to download is not listed); `POST /models {"model"}` downloading a model (a child in download mode);
 * `POST /models/load` and `/models/unload` answering `{"success": true}` at once or an `{"error": {code, message,
 * type}}` with `code` as the status (`model is not found` 404 on load, `model is already running`, `model is not
 * running`). `GET /models/sse`: `data: {"model", "event", "data"?}` frames (`data` left out when it has none) with no
 * ids, no heartbeat and no snapshot on connect: `model_status` `{status: "downloading"|"loading"}` when a child
 * starts, `download_progress` `{progress: {<url>: {done, total}}}` (the whole `loaded_info`), `download_finished` or
 * `download_failed` (no data), `status_change` `{status: "loading", progress: {stages, current, value}}` (the child's
 * payload; a vision model adds an `mmproj_model` stage, as the team's reading of `tests/unit/test_router.py` has it),
 * then `{status: "loaded", info}` or `{status: "unloaded", exit_code}`.
 * Chat is OpenAI's SSE with `timings` on the finish chunk and `data: [DONE]`; `GET /metrics?model=` is Prometheus
 * text with `llamacpp:` names.
 */
export interface LlamacppStandin {
  readonly url: string;
  /** Every request it answered, `METHOD /path`, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** A model the router knows. */
export interface RouterModel {
  readonly id: string;
  /** Bytes of its files to download before the first load; absent: already in the cache. */
  readonly download?: readonly number[];
  /** Its load fails: the child process exits with this code. */
  readonly exitCode?: number;
  /** A vision model: its load has a second stage. */
  readonly vision?: boolean;
}

/** Options of {@link startLlamacppStandin}. */
export interface LlamacppStandinOptions {
  readonly models: readonly RouterModel[];
  /** Milliseconds between two frames (default 5). */
  readonly frameMs?: number;
}

interface State {
  value: 'unloaded' | 'downloading' | 'loading' | 'loaded';
  downloaded: boolean;
  exitCode: number | null;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Starts the stand-in on 127.0.0.1:0. */
export async function startLlamacppStandin(options: LlamacppStandinOptions): Promise<LlamacppStandin> {
  const frameMs = options.frameMs ?? 5;
  const states = new Map<string, State>(
    options.models.map((m) => [m.id, { value: 'unloaded', downloaded: m.download === undefined, exitCode: null }]),
  );
  const watchers = new Set<ServerResponse>();
  const requests: string[] = [];
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, code: number, message: string, type: string): void =>
    json(res, code, { error: { code, message, type } });
  const broadcast = (model: string, event: string, data?: unknown): void => {
    const frame = { model, event, ...(data === undefined ? {} : { data }) };
    for (const res of watchers) res.write(`data: ${JSON.stringify(frame)}\n\n`);
  };

  async function runDownload(model: RouterModel, state: State): Promise<void> {
    state.value = 'downloading';
    broadcast(model.id, 'model_status', { status: 'downloading' });
    const files = (model.download ?? []).map((total, i) => ({
      url: `https://huggingface.co/${model.id}/f${i}.gguf`,
      total,
    }));
    for (const step of [0.25, 0.5, 0.75, 1]) {
      await sleep(frameMs);
      const progress = Object.fromEntries(
        files.map((f) => [f.url, { done: Math.floor(f.total * step), total: f.total }]),
      );
      broadcast(model.id, 'download_progress', { progress });
    }
    state.downloaded = true;
    state.value = 'unloaded';
    broadcast(model.id, 'download_finished');
  }

  async function runLoad(model: RouterModel, state: State): Promise<void> {
    state.value = 'loading';
    broadcast(model.id, 'model_status', { status: 'loading' });
    const stages = model.vision === true ? ['model', 'mmproj_model'] : ['model'];
    for (const [current] of stages.entries()) {
      for (const value of [0, 0.5, 1]) {
        await sleep(frameMs);
        broadcast(model.id, 'status_change', { status: 'loading', progress: { stages, current, value } });
      }
    }
    await sleep(frameMs);
    if (model.exitCode !== undefined) {
      state.value = 'unloaded';
      state.exitCode = model.exitCode;
      broadcast(model.id, 'status_change', { status: 'unloaded', exit_code: model.exitCode });
      return;
    }
    state.value = 'loaded';
    broadcast(model.id, 'status_change', { status: 'loaded', info: { n_ctx: 4096 } });
  }

  function list(): unknown {
    return {
      object: 'list',
      data: options.models.flatMap((m) => {
        const state = states.get(m.id);
        // The router lists what its cache, models dir and presets hold: a model to download is not there yet.
        if (state === undefined || !state.downloaded) return [];
        const failed = state?.value === 'unloaded' && state.exitCode !== null && state.exitCode !== 0;
        return [
          {
            id: m.id,
            object: 'model',
            owned_by: 'llamacpp',
            created: 1_700_000_000,
            status: {
              value: state.value,
              args: [],
              ...(failed ? { exit_code: state.exitCode, failed: true } : {}),
            },
          },
        ];
      }),
    };
  }

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const name = typeof body['model'] === 'string' ? body['model'] : '';
    const state = states.get(name);
    if (state === undefined) return error(res, 400, 'model not found', 'invalid_request_error');
    if (state.value !== 'loaded') return error(res, 400, 'model is not loaded', 'invalid_request_error');
    const base = { id: 'chatcmpl-standin', object: 'chat.completion.chunk', created: 1_700_000_000, model: name };
    const send = (delta: unknown, finish: string | null, extra: Record<string, unknown> = {}): boolean =>
      res.write(
        `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`,
      );
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    send({ role: 'assistant', content: null }, null);
    const words = ['Hello', ' from', ' llama.cpp'];
    for (const word of words) {
      await sleep(frameMs);
      send({ content: word }, null);
    }
    const timings = {
      prompt_n: 5,
      prompt_ms: 12.5,
      predicted_n: words.length,
      predicted_ms: 30,
      predicted_per_second: 100,
    };
    const usage = { completion_tokens: words.length, prompt_tokens: 5, total_tokens: 5 + words.length };
    send({}, 'stop', { usage, timings });
    res.end('data: [DONE]\n\n');
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const handle = async (): Promise<void> => {
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /health':
          return json(res, 200, { status: 'ok' });
        case 'GET /props':
          return json(res, 200, { role: 'router', max_instances: 4, model_alias: 'llama-server', model_path: 'none' });
        case 'GET /models':
        case 'GET /v1/models':
          return json(res, 200, list());
        case 'GET /models/sse':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.flushHeaders();
          watchers.add(res);
          res.on('close', () => watchers.delete(res));
          return;
        case 'POST /models/load': {
          const body = await readBody(req);
          const model = options.models.find((m) => m.id === body['model']);
          const state = model === undefined ? undefined : states.get(model.id);
          if (model === undefined || state === undefined || !state.downloaded)
            return error(res, 404, 'model is not found', 'not_found_error');
          if (state.value !== 'unloaded') return error(res, 400, 'model is already running', 'invalid_request_error');
          json(res, 200, { success: true });
          if (state.value === 'unloaded') void runLoad(model, state);
          return;
        }
        case 'POST /models': {
          const body = await readBody(req);
          const model = options.models.find((m) => m.id === body['model']);
          const state = model === undefined ? undefined : states.get(model.id);
          if (model === undefined || state === undefined)
            return error(res, 400, 'model validation failed, unable to download', 'invalid_request_error');
          if (state.downloaded || state.value === 'downloading')
            return error(res, 400, `model '${model.id}' already exists`, 'invalid_request_error');
          json(res, 200, { success: true });
          void runDownload(model, state);
          return;
        }
        case 'POST /models/unload': {
          const body = await readBody(req);
          const state = typeof body['model'] === 'string' ? states.get(body['model']) : undefined;
          if (state === undefined) return error(res, 400, 'model is not found', 'invalid_request_error');
          if (state.value === 'unloaded') return error(res, 400, 'model is not running', 'invalid_request_error');
          json(res, 200, { success: true });
          state.value = 'unloaded';
          state.exitCode = 0;
          broadcast(String(body['model']), 'status_change', { status: 'unloaded', exit_code: 0 });
          return;
        }
        case 'GET /metrics': {
          const model = url.searchParams.get('model');
          if (model === null) return error(res, 400, 'model name is missing from the request', 'invalid_request_error');
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          return void res.end(
            [
              'llamacpp:prompt_tokens_total 5',
              'llamacpp:tokens_predicted_total 3',
              'llamacpp:requests_processing 0',
              'llamacpp:requests_deferred 0',
              '',
            ].join('\n'),
          );
        }
        case 'POST /v1/chat/completions':
          return chat(req, res);
        default:
          return error(res, 404, 'File Not Found', 'not_found_error');
      }
    };
    handle().catch((e: unknown) => {
      if (!res.headersSent) error(res, 500, String(e), 'server_error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
