import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for upstream `transformers serve` (huggingface/transformers#44758), as docs/protocol.md and the PR
 * describe it, for testing modeldeck's clients and `modeldeck check` against a server that is not modeldeck:
 *
 * - `POST /load_model` answers `text/event-stream` with `data: <json>\n\n` frames written like Python's
 *   `json.dumps` (`", "` and `": "`), stages `processor`, `config`, `download`, `weights`, then `ready`.
 * - Its download total is `null` until the first file announces its size, then grows as files are discovered.
 * - No heartbeats; no `[DONE]` at the end of a chat stream; no `code` in error events.
 * - Concurrent requests share one load; a late joiner receives only the live events (nothing about passed stages).
 * - FastAPI's 422 `{"detail": [...]}` for a body it cannot read, malformed JSON included.
 * - An unknown model: a `processor` frame, then an `error` event with the exception's text.
 * - `GET /health`, `GET /v1/models` (OpenAI's list), `POST /v1/chat/completions` (streamed), `POST /reset`; no
 *   `/unload_model` (404 `{"detail": "Not Found"}`); `GET /load_model` is FastAPI's 405 `{"detail": "Method Not
 *   Allowed"}` (the route exists for POST), which modeldeck's kind detection reads.
 */
export interface UpstreamStandin {
  readonly url: string;
  /** Every request line it answered, `METHOD /path`, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Options of {@link startUpstreamStandin}. */
export interface UpstreamStandinOptions {
  /** Repository ids it can load, without a revision. */
  readonly models: readonly string[];
  /** Milliseconds between two frames of a load (default 5). */
  readonly frameMs?: number;
  /** Milliseconds of silence during the download (a long stage without heartbeats; default 0). */
  readonly quietMs?: number;
  /**
   * Breaks one promise of the protocol, for tests of tools that must notice: weights progress that goes backwards,
   * a stream that ends without a terminal event, or a chat stream whose first chunk has no role.
   */
  readonly breaks?: 'progress-backwards' | 'no-terminal' | 'chat-no-role';
  /**
   * Today's upstream (transformers 5.x, `src/transformers/cli/serving/`), as the team's reference reads it:
   * `reasoning_content` deltas before the answer (PR #45690), a `tool_calls` delta with id `<request_id>_tool_call`,
   * `usage` on the final chunk whether asked or not, still no `[DONE]`; `chatError` sends, after the first piece,
   * the mid-stream error `data: {"error": "<msg>"}` built by string interpolation (invalid JSON when the message has
   * a quote); `unhealthy` makes `GET /health` answer 503 `{"status": "unhealthy", "reason": "cb_worker_dead"}`
   * (PR #45691).
   */
  readonly today?: {
    readonly reasoning?: readonly string[];
    readonly toolCall?: { readonly name: string; readonly arguments: string };
    readonly chatError?: string;
    readonly unhealthy?: boolean;
  };
}

type Frame = Record<string, unknown>;

/** Python's `json.dumps` of plain data (ASCII input): `", "` and `": "` separators. */
function pythonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(', ')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}: ${pythonDumps(v)}`)
    .join(', ')}}`;
}

interface Load {
  readonly subscribers: Set<ServerResponse>;
  readonly done: Promise<void>;
}

/** Starts the stand-in on 127.0.0.1:0. */
export async function startUpstreamStandin(options: UpstreamStandinOptions): Promise<UpstreamStandin> {
  const frameMs = options.frameMs ?? 5;
  const resident = new Set<string>();
  const loads = new Map<string, Load>();
  const requests: string[] = [];
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function openStream(res: ServerResponse): void {
    // Starlette's StreamingResponse: the media type and nothing about caching or proxy buffering.
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.flushHeaders();
  }

  async function runLoad(key: string, id: string, load: () => Load): Promise<void> {
    const send = (frame: Frame): void => {
      for (const res of load().subscribers) res.write(`data: ${pythonDumps(frame)}\n\n`);
    };
    const loading = (stage: string, progress?: { current: number; total: number | null }): Frame => ({
      status: 'loading',
      model: key,
      stage,
      ...(progress ? { progress } : {}),
    });
    await sleep(frameMs);
    send(loading('processor'));
    await sleep(frameMs);
    if (!options.models.includes(id)) {
      send({
        status: 'error',
        model: key,
        message: `${id} is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'`,
      });
      return;
    }
    send(loading('config'));
    await sleep(frameMs);
    send(loading('download', { current: 0, total: null }));
    await sleep(frameMs);
    send(loading('download', { current: 1000, total: 4000 }));
    await sleep(frameMs + (options.quietMs ?? 0));
    send(loading('download', { current: 4000, total: 9000 }));
    await sleep(frameMs);
    send(loading('download', { current: 9000, total: 9000 }));
    await sleep(frameMs);
    send(loading('weights', { current: 136, total: 272 }));
    await sleep(frameMs);
    send(loading('weights', { current: options.breaks === 'progress-backwards' ? 100 : 272, total: 272 }));
    await sleep(frameMs);
    if (options.breaks === 'no-terminal') return;
    resident.add(key);
    send({ status: 'ready', model: key, cached: false });
  }

  async function loadModel(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    if (!body.ok) return json(res, 422, { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: body.error }] });
    const model = (body.value as Record<string, unknown> | null)?.['model'];
    if (typeof model !== 'string') {
      return json(res, 422, { detail: [{ type: 'missing', loc: ['body', 'model'], msg: 'Field required' }] });
    }
    const [id = '', revision = 'main'] = model.split('@');
    const key = `${id}@${revision}`;
    openStream(res);
    if (resident.has(key)) {
      res.end(`data: ${pythonDumps({ status: 'ready', model: key, cached: true })}\n\n`);
      return;
    }
    let load = loads.get(key);
    if (load === undefined) {
      const subscribers = new Set<ServerResponse>();
      const created: Load = {
        subscribers,
        done: runLoad(key, id, () => created).finally(() => {
          loads.delete(key);
          for (const r of subscribers) r.end();
        }),
      };
      load = created;
      loads.set(key, load);
    }
    load.subscribers.add(res);
    res.on('close', () => load.subscribers.delete(res));
  }

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const request = body.ok ? (body.value as Record<string, unknown> | null) : null;
    if (request === null || typeof request['model'] !== 'string' || !Array.isArray(request['messages'])) {
      return json(res, 422, { detail: [{ type: 'missing', loc: ['body', 'messages'], msg: 'Field required' }] });
    }
    const model = request['model'].includes('@') ? request['model'] : `${request['model']}@main`;
    const base = { id: 'chatcmpl-standin', created: 1_700_000_000, model, system_fingerprint: null };
    const chunk = (delta: Frame, finish: string | null): string =>
      `data: ${JSON.stringify({
        ...base,
        choices: [{ delta, index: 0, finish_reason: finish, logprobs: null }],
        object: 'chat.completion.chunk',
      })}\n\n`;
    openStream(res);
    res.write(chunk(options.breaks === 'chat-no-role' ? { content: 'Hi' } : { role: 'assistant', content: '' }, null));
    const today = options.today;
    for (const thought of today?.reasoning ?? []) {
      await sleep(frameMs);
      res.write(chunk({ reasoning_content: thought }, null));
    }
    if (today?.toolCall) {
      const call = { index: 0, id: 'req-standin_tool_call', type: 'function', function: today.toolCall };
      res.write(chunk({ tool_calls: [call] }, null));
    }
    for (const word of ['Hello', ' there', '!']) {
      await sleep(frameMs);
      res.write(chunk({ content: word }, null));
      if (today?.chatError !== undefined) {
        // Python's f-string: the message goes in unescaped.
        return void res.end(`data: {"error": "${today.chatError}"}\n\n`);
      }
    }
    if (today === undefined) return void res.end(chunk({}, 'stop'));
    const usage = { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 };
    res.end(chunk({}, 'stop').replace('"object":', `"usage":${JSON.stringify(usage)},"object":`));
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push(`${req.method} ${path}`);
    const route = `${req.method} ${path}`;
    const handle = async (): Promise<void> => {
      switch (route) {
        case 'GET /health':
          if (options.today?.unhealthy === true)
            return json(res, 503, { status: 'unhealthy', reason: 'cb_worker_dead' });
          return json(res, 200, { status: 'ok' });
        case 'GET /v1/models':
          return json(res, 200, {
            object: 'list',
            data: options.models.map((id) => ({ id, object: 'model', created: 0, owned_by: id.split('/')[0] })),
          });
        case 'POST /load_model':
          return loadModel(req, res);
        case 'POST /v1/chat/completions':
          return chat(req, res);
        case 'POST /reset':
          resident.clear();
          return json(res, 200, { status: 'ok' });
        case 'GET /load_model':
          // FastAPI's answer to a route that exists for another method.
          return json(res, 405, { detail: 'Method Not Allowed' });
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
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...loads.values()].map((l) => l.done));
    },
  };
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (error) {
    return { ok: false, error: `JSON decode error: ${(error as Error).message}` };
  }
}
