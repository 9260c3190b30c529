import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Ollama's local API, built from its API docs and routes as the team's reference summarises them
 * (`ollama/ollama` @ fb30760, v0.33.0-rc2: `docs/api.md`, `server/routes.go`, `server/download.go`, `api/types.go`),
 * and proven by the official `ollama` npm client driving it (test/engines-ollama.test.ts):
 *
 * - `GET /` "Ollama is running"; `GET /api/version` `{"version"}`; `GET /api/tags` the installed models;
 *   `GET /v1/models` the same as OpenAI's list.
 * - `POST /api/pull {"model"|"name", "stream"?}`: NDJSON (`application/x-ndjson`): `pulling manifest`, then for each
 *   layer `pulling <digest 12>` lines with `digest`, `total` and `completed` (absent until above 0; every layer's
 *   first line before any bytes, as its concurrent downloads start together), then `verifying
 *   sha256 digest`, `writing manifest`, `success`. An unknown model is `{"error"}` under HTTP 200 when streaming
 *   (500 with `stream: false`).
 * - `POST /api/generate` and `POST /api/chat` with no prompt / no messages load the model (`done_reason: "load"`),
 *   or unload it with `keep_alive: 0` (`"unload"`); `keep_alive` is seconds or a Go duration (`"5m"`), negative
 *   meaning forever. A chat with messages streams NDJSON `message` lines, then a `done` line with its durations (ns)
 *   and counts. A model not installed is 404 `{"error": "model 'x' not found"}`.
 * - `GET /api/ps`: `{"models": [{name, model, size, digest, details, expires_at, size_vram, context_length}]}`.
 * - `DELETE /api/delete {"model"|"name"}`: 200, or 404 for a model not installed.
 */
export interface OllamaStandin {
  readonly url: string;
  /** Every request it answered, `METHOD /path`, in order. */
  readonly requests: string[];
  /** Installs `name` at once, as a finished pull would. */
  install(name: string): void;
  close(): Promise<void>;
}

/** A model the stand-in's registry can pull: its layers' sizes in bytes. */
export interface OllamaLibraryModel {
  readonly name: string;
  readonly layers: readonly number[];
}

/** Options of {@link startOllamaStandin}. */
export interface OllamaStandinOptions {
  /** What `/api/pull` can fetch. */
  readonly library: readonly OllamaLibraryModel[];
  /** Milliseconds between two lines of a pull or a chat (default 5). */
  readonly lineMs?: number;
  /** Milliseconds a load takes (default 20). */
  readonly loadMs?: number;
  /** The words of every reply. */
  readonly reply?: readonly string[];
}

const DEFAULT_KEEP_ALIVE_MS = 5 * 60 * 1000;

interface Resident {
  readonly size: number;
  expiresAt: Date;
}

/** `name` with Ollama's default tag. */
function tagged(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') ? name : `${name}:latest`;
}

function digestOf(name: string, index: number): string {
  let hash = 0;
  for (const char of `${name}#${index}`) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `sha256:${hash.toString(16).padStart(8, '0').repeat(8)}`;
}

/** `keep_alive` in ms: a number of seconds or a Go duration; negative is forever (null); absent the default. */
function keepAliveMs(value: unknown): number | null {
  if (value === undefined) return DEFAULT_KEEP_ALIVE_MS;
  if (typeof value === 'number') return value < 0 ? null : value * 1000;
  const match = typeof value === 'string' ? /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value) : null;
  if (!match) return DEFAULT_KEEP_ALIVE_MS;
  const amount = Number(match[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return amount < 0 ? null : amount * unit;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** Starts the stand-in on 127.0.0.1:0. */
export async function startOllamaStandin(options: OllamaStandinOptions): Promise<OllamaStandin> {
  const lineMs = options.lineMs ?? 5;
  const installed = new Map<string, OllamaLibraryModel>();
  const resident = new Map<string, Resident>();
  const requests: string[] = [];
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const sizeOf = (model: OllamaLibraryModel): number => model.layers.reduce((a, b) => a + b, 0);
  const find = (name: string): OllamaLibraryModel | undefined =>
    options.library.find((m) => tagged(m.name) === tagged(name));

  function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  }
  function ndjson(res: ServerResponse): (line: unknown) => void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.flushHeaders();
    return (line) => res.write(`${JSON.stringify(line)}\n`);
  }
  const details = { format: 'gguf', family: 'qwen3', parameter_size: '0.6B', quantization_level: 'Q4_K_M' };
  const entryOf = (name: string, model: OllamaLibraryModel) => ({
    name,
    model: name,
    size: sizeOf(model),
    digest: digestOf(name, -1).slice('sha256:'.length),
    details,
  });

  async function pull(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const name = tagged(String(body['model'] ?? body['name'] ?? ''));
    const model = find(name);
    const stream = body['stream'] !== false;
    if (model === undefined) {
      const error = { error: 'pull model manifest: file does not exist' };
      if (!stream) return json(res, 500, error);
      return (ndjson(res)(error), void res.end());
    }
    if (!stream) {
      installed.set(name, model);
      return json(res, 200, { status: 'success' });
    }
    const send = ndjson(res);
    send({ status: 'pulling manifest' });
    const layers = model.layers.map((total, index) => {
      const digest = digestOf(name, index);
      return { total, digest, status: `pulling ${digest.slice('sha256:'.length, 'sha256:'.length + 12)}` };
    });
    // Ollama starts every layer's download at once (server/download.go), so each layer's line comes before any
    // bytes: a client that sums them has the whole total from the start.
    for (const { status, digest, total } of layers) {
      await sleep(lineMs);
      send({ status, digest, total });
    }
    for (const { status, digest, total } of layers) {
      for (const completed of [Math.floor(total / 3), Math.floor((2 * total) / 3), total]) {
        await sleep(lineMs);
        send({ status, digest, total, completed });
      }
    }
    for (const status of ['verifying sha256 digest', 'writing manifest', 'success']) {
      await sleep(lineMs);
      if (status === 'success') installed.set(name, model);
      send({ status });
    }
    res.end();
  }

  /** A load or an unload by an empty generate or chat; answers as Ollama does. */
  async function loadOrUnload(name: string, keepAlive: unknown, res: ServerResponse, chat: boolean): Promise<void> {
    const model = installed.get(name);
    if (model === undefined) return json(res, 404, { error: `model '${name}' not found` });
    const ms = keepAliveMs(keepAlive);
    const base = { model: name, created_at: new Date().toISOString(), done: true };
    const empty = chat ? { message: { role: 'assistant', content: '' } } : { response: '' };
    if (ms === 0) {
      resident.delete(name);
      return json(res, 200, { ...base, ...empty, done_reason: 'unload' });
    }
    if (!resident.has(name)) await sleep(options.loadMs ?? 20);
    resident.set(name, { size: sizeOf(model), expiresAt: expiry(ms) });
    return json(res, 200, { ...base, ...empty, done_reason: 'load' });
  }

  function expiry(ms: number | null): Date {
    // Ollama writes "forever" as a date centuries ahead.
    return ms === null ? new Date('2318-01-01T00:00:00Z') : new Date(Date.now() + ms);
  }

  async function chat(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const name = tagged(String(body['model'] ?? ''));
    const messages = Array.isArray(body['messages']) ? body['messages'] : [];
    if (messages.length === 0) return loadOrUnload(name, body['keep_alive'], res, true);
    const model = installed.get(name);
    if (model === undefined) return json(res, 404, { error: `model '${name}' not found` });
    const loadStart = process.hrtime.bigint();
    if (!resident.has(name)) await sleep(options.loadMs ?? 20);
    const loadNs = Number(process.hrtime.bigint() - loadStart);
    resident.set(name, { size: sizeOf(model), expiresAt: expiry(keepAliveMs(body['keep_alive'])) });
    const words = options.reply ?? ['Hello', ' from', ' Ollama'];
    const at = (): string => new Date().toISOString();
    const done = {
      done_reason: 'stop',
      total_duration: loadNs + 1_000_000,
      load_duration: loadNs,
      prompt_eval_count: 7,
      prompt_eval_duration: 400_000,
      eval_count: words.length,
      eval_duration: 600_000,
    };
    if (body['stream'] === false) {
      const message = { role: 'assistant', content: words.join('') };
      return json(res, 200, { model: name, created_at: at(), message, done: true, ...done });
    }
    const send = ndjson(res);
    for (const word of words) {
      await sleep(lineMs);
      send({ model: name, created_at: at(), message: { role: 'assistant', content: word }, done: false });
    }
    send({ model: name, created_at: at(), message: { role: 'assistant', content: '' }, done: true, ...done });
    res.end();
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push(`${req.method} ${path}`);
    const handle = async (): Promise<void> => {
      switch (`${req.method} ${path}`) {
        case 'GET /':
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          return void res.end('Ollama is running');
        case 'GET /api/version':
          return json(res, 200, { version: '0.33.0-rc2' });
        case 'GET /api/tags':
          return json(res, 200, { models: [...installed].map(([name, model]) => entryOf(name, model)) });
        case 'GET /v1/models':
          return json(res, 200, {
            object: 'list',
            data: [...installed.keys()].map((id) => ({ id, object: 'model', created: 0, owned_by: 'library' })),
          });
        case 'GET /api/ps':
          return json(res, 200, {
            models: [...resident].flatMap(([name, r]) => {
              const model = installed.get(name);
              if (model === undefined) return [];
              const vram = Math.floor(r.size * 0.75);
              return [
                {
                  ...entryOf(name, model),
                  expires_at: r.expiresAt.toISOString(),
                  size_vram: vram,
                  context_length: 4096,
                },
              ];
            }),
          });
        case 'POST /api/pull':
          return pull(await readBody(req), res);
        case 'POST /api/generate': {
          const body = await readBody(req);
          const name = tagged(String(body['model'] ?? ''));
          if (typeof body['prompt'] === 'string' && body['prompt'] !== '')
            return json(res, 501, { error: 'the stand-in generates only through /api/chat' });
          return loadOrUnload(name, body['keep_alive'], res, false);
        }
        case 'POST /api/chat':
          return chat(await readBody(req), res);
        case 'DELETE /api/delete': {
          const body = await readBody(req);
          const name = tagged(String(body['model'] ?? body['name'] ?? ''));
          if (!installed.delete(name)) return json(res, 404, { error: `model '${name}' not found` });
          resident.delete(name);
          res.writeHead(200);
          return void res.end();
        }
        default:
          res.writeHead(404, { 'content-type': 'text/plain' });
          return void res.end('404 page not found');
      }
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    install(name) {
      const model = find(name);
      if (model === undefined) throw new Error(`${name} is not in the stand-in's library`);
      installed.set(tagged(name), model);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
