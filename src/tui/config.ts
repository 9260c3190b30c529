/**
 * The dashboard's `--config FILE`: the sessions to open, each with its server, model and API key.
 *
 * Format (JSON):
 *
 *     {
 *       "sessions": [
 *         {"server": "http://127.0.0.1:8000", "model": "modeldeck/tiny-chat"},
 *         {"server": "https://models.example.com/v1", "model": "org/name@v2", "apiKeyEnv": "EXAMPLE_KEY"},
 *         {"server": "http://10.0.0.5:8000", "model": "org/other", "apiKey": "sk-…",
 *          "chat": {"system": "Answer in one line.", "temperature": 0.2, "maxTokens": 64, "seed": 7}}
 *       ]
 *     }
 *
 * `name` (optional) is the session's tag on screen and in the event log instead of `s1`, `s2`, …: 1–12 letters, digits,
 * `.`, `_` or `-`, unique in the file, and not itself of the form `s<number>` (those are the unnamed sessions' tags).
 *
 * `apiKey` gives the key itself; `apiKeyEnv` names an environment variable holding it (better: the file can then be
 * shared). Give at most one. Unknown fields are refused, so a typo (`apikey`) is caught instead of silently ignored.
 *
 * `dtype` (optional; a string like `"q4,q8"` or a list) is sent as the load request's `dtype`: the ONNX weights
 * variants in order of preference, checked here as the server checks them.
 *
 * `kind` (optional: `modeldeck`, `transformers-serve`, `ollama`, `llamacpp` or `openai`, `vllm` meaning `openai`) names
 * the kind of server instead of detecting it; with a kind that does not speak `/load_model`, `model` is that server's
 * own name (`qwen3:0.6b`).
 *
 * `readOnly` (optional, `true` or `false`) makes the session watch-only, as `--read-only` makes every session: it
 * sends no unload and no cancel, and loads nothing (it follows a load or a resident model, and chats).
 *
 * The dashboard writes this format back (Ctrl-S, and on quit): `config-writer.ts`.
 */

import { readFile } from 'node:fs/promises';
import { LocalError } from '../common/local-errors.js';
import { parseDtypePreference } from '../protocol/dtype.js';
import { modelProblem, parseServerKind, unknownKindMessage, type ServerKind } from '../client/server-kind.js';
import { checkChatSettings, type ChatSettings } from './chat-settings.js';
import { checkServerUrl } from './keys.js';

/** One session to open. */
export interface SessionSpec {
  /** Base URL (`http://host:port`, or with `/v1`). */
  readonly server: string;
  /** `org/name` or `org/name@revision`. */
  readonly model: string;
  /** The session's tag on screen and in the event log (else `s1`, `s2`, … by opening order). */
  readonly name?: string;
  /** Sent as `Authorization: Bearer …` on every request of the session; never shown or logged. */
  readonly apiKey?: string;
  /** Where {@link SessionSpec.apiKey} came from, so that writing the session back never writes it out in the clear. */
  readonly keyOrigin?: KeyOrigin;
  /** Watch-only: no unload, no cancel, no load of its own (`"readOnly": true`; `--read-only` sets it for all). */
  readonly readOnly?: boolean;
  /** How its replies are asked for. */
  readonly chat?: ChatSettings;
  /** The load request's `dtype`: ONNX weights variants in order of preference; absent, the server chooses. */
  readonly dtype?: readonly string[];
  /** The kind of server (`"kind"`, `--kind`); absent, detected by its answers (`client/server-kind.ts`). */
  readonly kind?: ServerKind;
}

/**
 * Where a session's key came from: an environment variable (`apiKeyEnv`, `$MODELDECK_API_KEY`), a config file that
 * holds it (`apiKey`), the `--api-key` flag, or the add / edit prompt.
 */
export type KeyOrigin = { readonly kind: 'env'; readonly name: string } | { readonly kind: 'file' | 'flag' | 'typed' };

/** Why a config file was refused: its code in the local error catalogue. */
export type ConfigErrorCode = 'MD_CONFIG_READ' | 'MD_CONFIG_JSON' | 'MD_CONFIG_SHAPE' | 'MD_CONFIG_ENV';

/** A config file that cannot be used; the message names the file, the place and what to write instead. */
export class ConfigError<C extends ConfigErrorCode = ConfigErrorCode> extends LocalError<C> {
  override readonly name = 'ConfigError';
}

const SESSION_FIELDS = new Set(['name', 'server', 'model', 'apiKey', 'apiKeyEnv', 'chat', 'dtype', 'readOnly', 'kind']);
const CHAT_FIELDS = new Set(['system', 'temperature', 'maxTokens', 'seed']);

/** Longest session name: it is a tag in a narrow log column and a pane title. */
export const MAX_NAME_LENGTH = 12;

/**
 * Parses a config file's text. `source` names it in messages; `env` resolves `apiKeyEnv`.
 *
 * @throws ConfigError with a message that says where the problem is and what the format expects.
 */
export function parseDashboardConfig(text: string, env: NodeJS.ProcessEnv, source = 'config'): SessionSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('MD_CONFIG_JSON', source, (error as Error).message);
  }
  const expected =
    'expected {"sessions": [{"name"?: NAME, "server": URL, "model": ID, "apiKey"?: KEY, "apiKeyEnv"?: VAR}]}';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('MD_CONFIG_SHAPE', `${source}: ${expected}`);
  }
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).filter((k) => k !== 'sessions');
  if (extra.length > 0) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${source}: unknown field ${JSON.stringify(extra[0])} at the top level; ${expected}`,
    );
  }
  const sessions = record['sessions'];
  if (!Array.isArray(sessions))
    throw new ConfigError('MD_CONFIG_SHAPE', `${source}: "sessions" must be an array; ${expected}`);
  const specs = sessions.map((entry, i) => readSession(entry, `${source}: sessions[${i}]`, env));
  const named = new Map<string, number>();
  for (const [i, spec] of specs.entries()) {
    if (spec.name === undefined) continue;
    const first = named.get(spec.name);
    if (first !== undefined) {
      throw new ConfigError(
        'MD_CONFIG_SHAPE',
        `${source}: sessions[${i}]: "name" ${JSON.stringify(spec.name)} is already the name of sessions[${first}]; names must be unique`,
      );
    }
    named.set(spec.name, i);
  }
  return specs;
}

function readName(value: unknown, where: string): string {
  const rule = `1–${MAX_NAME_LENGTH} letters, digits, ".", "_" or "-"`;
  if (typeof value !== 'string' || value === '')
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "name" must be a non-empty string (${rule})`);
  if ([...value].length > MAX_NAME_LENGTH) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${where}: "name" ${JSON.stringify(value)} is ${[...value].length} characters; at most ${MAX_NAME_LENGTH}`,
    );
  }
  if (!/^[A-Za-z0-9._-]+$/.test(value))
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "name" ${JSON.stringify(value)} must be ${rule}`);
  if (/^s[0-9]+$/.test(value)) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${where}: "name" ${JSON.stringify(value)} looks like the tag of an unnamed session (s1, s2, …); choose another`,
    );
  }
  return value;
}

function readSession(entry: unknown, where: string, env: NodeJS.ProcessEnv): SessionSpec {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigError('MD_CONFIG_SHAPE', `${where} must be an object with "server" and "model"`);
  }
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !SESSION_FIELDS.has(k));
  if (unknown !== undefined) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${where}: unknown field ${JSON.stringify(unknown)} (allowed: name, server, model, kind, apiKey, apiKeyEnv, chat, dtype, readOnly)`,
    );
  }
  const { name, server, model, apiKey, apiKeyEnv } = fields;
  const tag = name === undefined ? undefined : readName(name, where);
  if (typeof server !== 'string') throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "server" must be a URL string`);
  const urlProblem = checkServerUrl(server);
  if (urlProblem !== undefined) throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "server": ${urlProblem}`);
  if (typeof model !== 'string')
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "model" must be a string like "org/name"`);
  const kind = readKind(fields['kind'], where);
  const problem = modelProblem(model, kind);
  if (problem !== undefined) throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "model": ${problem}`);
  if (apiKey !== undefined && apiKeyEnv !== undefined) {
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: give "apiKey" or "apiKeyEnv", not both`);
  }
  let key: string | undefined;
  let keyOrigin: KeyOrigin | undefined;
  if (apiKey !== undefined) {
    if (typeof apiKey !== 'string' || apiKey === '')
      throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "apiKey" must be a non-empty string`);
    key = apiKey;
    keyOrigin = { kind: 'file' };
  }
  if (apiKeyEnv !== undefined) {
    if (typeof apiKeyEnv !== 'string' || apiKeyEnv === '') {
      throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "apiKeyEnv" must name an environment variable`);
    }
    const fromEnv = env[apiKeyEnv];
    if (fromEnv === undefined || fromEnv === '') {
      throw new ConfigError('MD_CONFIG_ENV', where, apiKeyEnv);
    }
    key = fromEnv;
    keyOrigin = { kind: 'env', name: apiKeyEnv };
  }
  const readOnly = fields['readOnly'];
  if (readOnly !== undefined && typeof readOnly !== 'boolean') {
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "readOnly" must be true or false`);
  }
  if (key !== undefined && !/^[\x21-\x7e]+$/.test(key)) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${where}: the API key must be printable ASCII without spaces (it travels in an HTTP header)`,
    );
  }
  const chat = fields['chat'] === undefined ? undefined : readChatSettings(fields['chat'], `${where}: "chat"`);
  let dtype: string[] | undefined;
  if (fields['dtype'] !== undefined) {
    const parsed = parseDtypePreference(fields['dtype']);
    if (!parsed.ok) throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "dtype": ${parsed.problem}`);
    dtype = parsed.value;
  }
  return {
    ...(tag !== undefined ? { name: tag } : {}),
    server: server.replace(/\/+$/, ''),
    model,
    ...(kind !== undefined ? { kind } : {}),
    ...(key !== undefined ? { apiKey: key } : {}),
    ...(keyOrigin !== undefined ? { keyOrigin } : {}),
    ...(chat !== undefined ? { chat } : {}),
    ...(dtype !== undefined ? { dtype } : {}),
    ...(readOnly === true ? { readOnly } : {}),
  };
}

function readKind(value: unknown, where: string): ServerKind | undefined {
  if (value === undefined) return undefined;
  const kind = typeof value === 'string' ? parseServerKind(value) : undefined;
  if (kind === undefined)
    throw new ConfigError('MD_CONFIG_SHAPE', `${where}: "kind": ${unknownKindMessage(String(value))}`);
  return kind;
}

function readChatSettings(value: unknown, where: string): ChatSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('MD_CONFIG_SHAPE', `${where} must be an object like {"temperature": 0.7, "seed": 1}`);
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !CHAT_FIELDS.has(k));
  if (unknown !== undefined) {
    throw new ConfigError(
      'MD_CONFIG_SHAPE',
      `${where}: unknown field ${JSON.stringify(unknown)} (allowed: system, temperature, maxTokens, seed)`,
    );
  }
  const problem = checkChatSettings(fields);
  if (problem !== undefined) throw new ConfigError('MD_CONFIG_SHAPE', `${where}: ${problem}`);
  return fields as ChatSettings;
}

/** Reads and parses a config file. @throws ConfigError */
export async function loadDashboardConfig(path: string, env: NodeJS.ProcessEnv): Promise<SessionSpec[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError('MD_CONFIG_READ', path, (error as NodeJS.ErrnoException).code ?? (error as Error).message);
  }
  return parseDashboardConfig(text, env, path);
}
