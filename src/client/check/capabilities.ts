/**
 * `modeldeck check` against a server that does not claim `/load_model` (Ollama, llama.cpp's router, vLLM and other
 * OpenAI-compatible servers): no conformance to hold it to, but a capabilities report: what its kind lets the
 * dashboard do and through which route, and what its read-only routes answer now (the model there or not). It loads,
 * unloads and chats with nothing.
 */

import type { ServerKind } from '../server-kind.js';
import { serviceRoot } from '../server-url.js';

/** One thing the dashboard may do on a server, and how (or why not) on this kind. */
export interface Capability {
  readonly name: 'load progress' | 'chat' | 'server view' | 'unload' | 'cancel' | 'delete';
  readonly supported: boolean;
  /** The route and what of it is read, or why there is none. */
  readonly how: string;
}

/** One read-only route asked, and what it said. */
export interface Probe {
  readonly route: string;
  /** The HTTP status, 0 when there was no answer. */
  readonly status: number;
  readonly said: string;
}

/** The report. `ok`: the kind's routes answered, and the model (when one was named) is there. */
export interface CapabilitiesReport {
  readonly server: string;
  readonly kind: ServerKind;
  /** Why this kind: detected by which probe, or named. */
  readonly because: string;
  readonly model: string | null;
  readonly capabilities: readonly Capability[];
  readonly probes: readonly Probe[];
  readonly ok: boolean;
}

type OtherKind = Exclude<ServerKind, 'modeldeck' | 'transformers-serve'>;

const CAPABILITIES: Readonly<Record<OtherKind, readonly Capability[]>> = {
  ollama: [
    {
      name: 'load progress',
      supported: true,
      how: 'POST /api/pull (NDJSON, layers summed), then an empty POST /api/generate (no load progress)',
    },
    { name: 'chat', supported: true, how: 'POST /api/chat (NDJSON; the done line’s counts)' },
    { name: 'server view', supported: true, how: 'GET /api/ps: size, size_vram, expires_at' },
    { name: 'unload', supported: true, how: 'POST /api/generate with keep_alive 0' },
    { name: 'cancel', supported: false, how: 'a pull stops only when its own request does' },
    { name: 'delete', supported: false, how: 'DELETE /api/delete exists; the dashboard does not send it' },
  ],
  llamacpp: [
    {
      name: 'load progress',
      supported: true,
      how: 'POST /models/load, followed on GET /models/sse (stages, download)',
    },
    { name: 'chat', supported: true, how: 'POST /v1/chat/completions (OpenAI; timings on the finish chunk)' },
    { name: 'server view', supported: true, how: 'GET /models: each model’s status' },
    { name: 'unload', supported: true, how: 'POST /models/unload' },
    { name: 'cancel', supported: true, how: 'POST /models/unload (kills a loading model’s process)' },
    { name: 'delete', supported: false, how: 'DELETE /models exists; the dashboard does not send it' },
  ],
  openai: [
    {
      name: 'load progress',
      supported: false,
      how: 'none: it serves the model it was started with; GET /health 503 is shown as starting',
    },
    { name: 'chat', supported: true, how: 'POST /v1/chat/completions (OpenAI)' },
    { name: 'server view', supported: true, how: 'GET /metrics with vllm: names (running, waiting, KV cache, TTFT)' },
    { name: 'unload', supported: false, how: 'not supported by openai' },
    { name: 'cancel', supported: false, how: 'not supported by openai' },
    { name: 'delete', supported: false, how: 'not supported by openai' },
  ],
};

/** The read-only routes asked per kind, and how each answer is said; `has` tells whether the model is there. */
const PROBES: Readonly<Record<OtherKind, readonly string[]>> = {
  ollama: ['/api/version', '/api/tags', '/api/ps'],
  llamacpp: ['/props', '/models'],
  openai: ['/health', '/v1/models', '/metrics'],
};

/** Options of {@link runCapabilities}. */
export interface CapabilitiesOptions {
  readonly server: string;
  readonly kind: OtherKind;
  readonly because: string;
  readonly model?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
}

/** The names a model list answer holds (`models[].name` for Ollama, `data[].id` otherwise). */
function namesIn(body: unknown): string[] {
  const record = (body ?? {}) as Record<string, unknown>;
  const list = Array.isArray(record['models']) ? record['models'] : Array.isArray(record['data']) ? record['data'] : [];
  return (list as Record<string, unknown>[]).flatMap((m) => {
    const name = m?.['name'] ?? m?.['id'];
    return typeof name === 'string' ? [name] : [];
  });
}

/** Asks the kind's read-only routes and builds the report. Never throws. */
export async function runCapabilities(options: CapabilitiesOptions): Promise<CapabilitiesReport> {
  const root = serviceRoot(options.server);
  const probes: Probe[] = [];
  const names = new Set<string>();
  let answered = true;
  for (const path of PROBES[options.kind]) {
    try {
      const response = await (options.fetch ?? fetch)(`${root}${path}`, {
        headers: {
          accept: 'application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
      });
      const text = await response.text().catch(() => '');
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      const listed = namesIn(body);
      for (const name of listed) names.add(name);
      const vllm = path === '/metrics' ? (text.includes('vllm:') ? 'vllm: metrics' : 'no vllm: metrics') : '';
      const said = vllm || (listed.length > 0 ? listed.join(', ') : text.trim().slice(0, 80) || '(empty)');
      probes.push({ route: `GET ${path}`, status: response.status, said });
      if (!response.ok && path !== '/metrics') answered = false;
    } catch (error) {
      probes.push({ route: `GET ${path}`, status: 0, said: (error as Error).message });
      answered = false;
    }
  }
  const model = options.model ?? null;
  const tagged = (n: string): string =>
    options.kind === 'ollama' && !n.slice(n.lastIndexOf('/') + 1).includes(':') ? `${n}:latest` : n;
  const present = model === null || [...names].some((n) => tagged(n) === tagged(model));
  if (model !== null) {
    probes.push({
      route: 'MODEL',
      status: 0,
      said: present
        ? `${model} is listed`
        : `${model} is not listed (${options.kind === 'ollama' ? 'a load pulls it' : 'nothing loads it on request'})`,
    });
  }
  return {
    server: root,
    kind: options.kind,
    because: options.because,
    model,
    capabilities: CAPABILITIES[options.kind],
    probes,
    ok: answered && (present || options.kind === 'ollama'),
  };
}

/** The report as text: the kind and why, what the dashboard can do there, what the routes answered. */
export function formatCapabilities(report: CapabilitiesReport): string {
  const width = Math.max(...report.capabilities.map((c) => c.name.length), 'CAPABILITY'.length);
  const routeWidth = Math.max(...report.probes.map((p) => p.route.length), 'ROUTE'.length);
  return `${[
    `modeldeck check ${report.server}${report.model === null ? '' : ` --model ${report.model}`}`,
    `server kind: ${report.kind} (${report.because}); it does not claim /load_model, so there is no conformance to check: its capabilities`,
    '',
    `${'CAPABILITY'.padEnd(width)}  SUPPORTED  HOW`,
    ...report.capabilities.map((c) => `${c.name.padEnd(width)}  ${(c.supported ? 'yes' : 'no').padEnd(9)}  ${c.how}`),
    '',
    `${'ROUTE'.padEnd(routeWidth)}  ANSWER`,
    ...report.probes.map((p) => `${p.route.padEnd(routeWidth)}  ${p.status === 0 ? '' : `${p.status} `}${p.said}`),
    '',
    report.ok ? 'ok' : 'not ok: see the answers above',
  ].join('\n')}\n`;
}
