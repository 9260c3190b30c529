/**
 * A request's `keep_alive` (on `/load_model` and the chat routes), with Ollama's semantics: how long the model stays
 * in memory after the request, as seconds (a number, or a string of one) or a duration (`"10m"`, `"1h30m"`,
 * `"90s"`, `"500ms"`); `0` unloads it once the request is done; any negative value keeps it for ever.
 */

/** What {@link parseKeepAlive} returns: milliseconds (`Infinity`: for ever; undefined: none asked), or the problem. */
export type KeepAliveResult =
  { readonly ok: true; readonly ms: number | undefined } | { readonly ok: false; readonly problem: string };

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const DURATION = /^(-)?((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)$/;
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const NUMBER = /^-?\d+(?:\.\d+)?$/;

/** Reads a body's `keep_alive` (absent or `null`: none asked). */
export function parseKeepAlive(value: unknown): KeepAliveResult {
  if (value === undefined || value === null) return { ok: true, ms: undefined };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return bad(value);
    return { ok: true, ms: value < 0 ? Infinity : Math.round(value * 1000) };
  }
  if (typeof value !== 'string') return bad(value);
  const text = value.trim();
  if (NUMBER.test(text)) return parseKeepAlive(Number(text));
  const match = DURATION.exec(text);
  if (match === null) return bad(value);
  if (match[1] === '-') return { ok: true, ms: Infinity };
  let ms = 0;
  for (const [, amount = '0', unit = 's'] of (match[2] ?? '').matchAll(PART))
    ms += Number(amount) * (UNIT_MS[unit] ?? 0);
  return { ok: true, ms: Math.round(ms) };
}

function bad(value: unknown): KeepAliveResult {
  return {
    ok: false,
    problem:
      `"keep_alive" must be seconds (a number) or a duration such as "10m" or "1h30m" (0 unloads after the ` +
      `request, -1 never), got ${JSON.stringify(value) ?? String(value)}`,
  };
}
