/**
 * A session's chat settings (system prompt, temperature, max tokens, seed): their checks, shared by the config file
 * and the dashboard's `o` prompt, and the one-line text form that prompt edits. Pure.
 */

/** A session's chat settings; absent ones are the server's defaults. */
export interface ChatSettings {
  /** Sent first, as the `system` message of every request. */
  readonly system?: string;
  /** 0 to 2. */
  readonly temperature?: number;
  /** 1 to 4096. */
  readonly maxTokens?: number;
  /** An integer: with the same conversation, the same reply. */
  readonly seed?: number;
}

/** Why chat settings are unusable (naming the field and its range), or undefined when they are fine. */
export function checkChatSettings(fields: Readonly<Record<string, unknown>>): string | undefined {
  const { system, temperature, maxTokens, seed } = fields;
  if (system !== undefined && typeof system !== 'string') return '"system" must be a string';
  if (temperature !== undefined && (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 2)))
    return '"temperature" must be a number from 0 to 2';
  if (
    maxTokens !== undefined &&
    (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 4096)
  )
    return '"maxTokens" must be an integer from 1 to 4096';
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isSafeInteger(seed)))
    return '"seed" must be an integer';
  return undefined;
}

const PROMPT_FIELDS = ['temperature', 'maxTokens', 'seed'] as const;

/** `temperature=0.7 maxTokens=64 seed=1 system=Answer briefly.`: the system prompt last, as it may hold spaces. */
export function formatChatSettings(settings: ChatSettings): string {
  const parts = PROMPT_FIELDS.filter((k) => settings[k] !== undefined).map((k) => `${k}=${settings[k]}`);
  if (settings.system !== undefined && settings.system !== '') parts.push(`system=${settings.system}`);
  return parts.join(' ');
}

/**
 * Reads {@link formatChatSettings}'s form back: `name=value` words, `system=` taking the rest of the line; a field
 * left out is the server's default. Returns the settings or why they are refused.
 */
export function parseChatSettings(
  text: string,
): { readonly ok: true; readonly settings: ChatSettings } | { readonly ok: false; readonly message: string } {
  const fields: Record<string, unknown> = {};
  let rest = text.trim();
  while (rest !== '') {
    const m = /^(\w+)=/.exec(rest);
    if (m === null) {
      return { ok: false, message: `expected name=value, like temperature=0.7 (at '${rest.split(/\s/)[0]}')` };
    }
    const name = m[1] ?? '';
    rest = rest.slice(m[0].length);
    if (name === 'system') {
      if (rest.trim() !== '') fields['system'] = rest.trim();
      break;
    }
    if (!(PROMPT_FIELDS as readonly string[]).includes(name)) {
      return { ok: false, message: `unknown setting '${name}' (temperature, maxTokens, seed, system)` };
    }
    const value = /^\S*/.exec(rest)?.[0] ?? '';
    rest = rest.slice(value.length).trimStart();
    const number = Number(value);
    if (value === '' || !Number.isFinite(number)) return { ok: false, message: `${name} must be a number` };
    fields[name] = number;
  }
  const problem = checkChatSettings(fields);
  return problem === undefined ? { ok: true, settings: fields as ChatSettings } : { ok: false, message: problem };
}
