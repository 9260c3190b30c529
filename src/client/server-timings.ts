/**
 * How fast the server says it generated a reply, from its own clock: llama.cpp's `timings` on the finish chunk,
 * Ollama's durations on its `done` line. The dashboard shows them beside the rate it measured over the wire, which
 * includes the network and the client.
 */

/** A reply's speed as the server measured it; each figure only when the server sent what it takes. */
export interface ServerTimings {
  /** Tokens generated per second. */
  readonly tokensPerSecond?: number;
  /** Prompt tokens read per second. */
  readonly promptTokensPerSecond?: number;
  /** Time the server spent loading the model for this request, in milliseconds. */
  readonly loadMs?: number;
}

const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

/** `count` per `ms` milliseconds, per second; undefined without both or with no time. */
function perSecond(count: unknown, ms: number | undefined): number | undefined {
  const n = finite(count);
  return n !== undefined && ms !== undefined && ms > 0 ? (n * 1000) / ms : undefined;
}

/** Only the figures present, or undefined when there are none. */
function present(timings: { readonly [K in keyof ServerTimings]?: number | undefined }): ServerTimings | undefined {
  const kept = Object.entries(timings).filter(([, v]) => v !== undefined);
  return kept.length > 0 ? (Object.fromEntries(kept) as ServerTimings) : undefined;
}

/** llama.cpp's `timings` (`predicted_per_second`, else `predicted_n` over `predicted_ms`; the same for the prompt). */
export function llamaTimings(value: unknown): ServerTimings | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const t = value as Record<string, unknown>;
  return present({
    tokensPerSecond: finite(t['predicted_per_second']) ?? perSecond(t['predicted_n'], finite(t['predicted_ms'])),
    promptTokensPerSecond: finite(t['prompt_per_second']) ?? perSecond(t['prompt_n'], finite(t['prompt_ms'])),
  });
}

/** Ollama's `done` line: `eval_count` over `eval_duration`, the prompt's the same, `load_duration` (nanoseconds). */
export function ollamaTimings(done: Record<string, unknown>): ServerTimings | undefined {
  const ms = (key: string): number | undefined => {
    const ns = finite(done[key]);
    return ns === undefined ? undefined : ns / 1e6;
  };
  return present({
    tokensPerSecond: perSecond(done['eval_count'], ms('eval_duration')),
    promptTokensPerSecond: perSecond(done['prompt_eval_count'], ms('prompt_eval_duration')),
    loadMs: ms('load_duration'),
  });
}
