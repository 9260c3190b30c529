/**
 * What Enter does in each one-line prompt: check the text, then open the next step (add and edit ask for a server, a
 * model, then an API key) or return the command; a refused text stays in the prompt with the reason.
 */

import { serviceRoot } from '../../client/server-url.js';
import { parseModelId } from '../../protocol/model-id.js';
import { parseChatSettings } from '../chat-settings.js';
import { done, type KeyContext, type KeyResult, type Prompt, type PromptKind, type UiState } from './types.js';

type Submit = (ui: UiState, prompt: Prompt, ctx: KeyContext) => KeyResult;

/** Enter in a prompt, by its kind. */
export function submitPrompt(ui: UiState, prompt: Prompt, ctx: KeyContext): KeyResult {
  return SUBMIT[prompt.kind](ui, prompt, ctx);
}

/** The prompt stays open, saying why its text was refused. */
const refuse = (ui: UiState, prompt: Prompt, error: string): KeyResult => done({ ...ui, prompt: { ...prompt, error } });

const dismiss: Submit = (ui) => done({ ...ui, prompt: null });

const SUBMIT: { readonly [K in PromptKind]: Submit } = {
  'add-server': (ui, prompt, ctx) => {
    const text = prompt.text.trim();
    const server = text === '' ? ctx.defaultServer : text;
    const problem = checkServerUrl(server);
    if (problem !== undefined) return refuse(ui, prompt, problem);
    const chosen = server.replace(/\/+$/, '');
    return done(
      { ...ui, prompt: { kind: 'add-model', text: '', server: chosen } },
      { type: 'list-models', server: chosen },
    );
  },
  'add-model': (ui, prompt, ctx) => {
    const text = prompt.text.trim();
    const parsed = parseModelId(text);
    if (!parsed.ok) return refuse(ui, prompt, parsed.message);
    const server = prompt.server ?? ctx.defaultServer;
    return done({
      ...ui,
      prompt: { kind: 'add-key', text: '', server, model: text, keyDefault: defaultKeyLabel(server, ctx) },
    });
  },
  'add-key': (ui, prompt, ctx) => {
    const key = readKey(prompt.text);
    if (key !== null && typeof key === 'object') return refuse(ui, prompt, key.error);
    return done(
      { ...ui, prompt: null },
      {
        type: 'add',
        server: prompt.server ?? ctx.defaultServer,
        model: prompt.model ?? '',
        ...(key !== undefined ? { apiKey: key } : {}),
      },
    );
  },
  'edit-server': (ui, prompt, ctx) => {
    const text = prompt.text.trim();
    const problem = checkServerUrl(text);
    if (problem !== undefined) return refuse(ui, prompt, problem);
    const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
    if (session === undefined) return dismiss(ui, prompt, ctx);
    const server = text.replace(/\/+$/, '');
    return done(
      { ...ui, prompt: { kind: 'edit-model', text: session.model ?? '', server, sessionId: session.id } },
      { type: 'list-models', server, sessionId: session.id },
    );
  },
  'edit-model': (ui, prompt, ctx) => {
    const text = prompt.text.trim();
    const parsed = parseModelId(text);
    if (!parsed.ok) return refuse(ui, prompt, parsed.message);
    const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
    if (session === undefined) return dismiss(ui, prompt, ctx);
    const keyDefault = session.hasKey === true ? 'keep' : 'no key';
    const server = prompt.server ?? session.server;
    return done({
      ...ui,
      prompt: { kind: 'edit-key', text: '', server, model: text, sessionId: session.id, keyDefault },
    });
  },
  'edit-key': (ui, prompt, ctx) => {
    const key = readKey(prompt.text);
    if (key !== null && typeof key === 'object') return refuse(ui, prompt, key.error);
    const session = ctx.sessions.find((s) => s.id === prompt.sessionId);
    if (session === undefined) return dismiss(ui, prompt, ctx);
    return done(
      { ...ui, prompt: null },
      {
        type: 'edit',
        sessionId: session.id,
        server: prompt.server ?? session.server,
        model: prompt.model ?? session.model ?? '',
        ...(key !== undefined ? { apiKey: key } : {}),
      },
    );
  },
  jump: (ui, prompt, ctx) => {
    const text = prompt.text.trim();
    if (text === '') return dismiss(ui, prompt, ctx);
    const index = findSession(text, ctx);
    if (index === undefined) {
      const open = ctx.sessions.length;
      return refuse(ui, prompt, `not one of 1–${open}, a tag or a model`);
    }
    return done({
      ...ui,
      prompt: null,
      focus: index,
      logFocused: false,
      composing: false,
      zoom: ui.zoom === 'log' ? null : ui.zoom,
    });
  },
  // The rows narrowed as it was typed (`view-model.ts`); Enter keeps the filter.
  'server-filter': (ui, prompt) => done({ ...ui, prompt: null, serverFilter: prompt.text.trim() }),
  filter: (ui, prompt) => done({ ...ui, prompt: null, log: { ...ui.log, filterText: prompt.text, scroll: 0 } }),
  save: (ui, prompt) => {
    const path = prompt.text.trim();
    if (path === '') return refuse(ui, prompt, 'give a file name');
    return done({ ...ui, prompt: null }, { type: 'save-log', path });
  },
  options: (ui, prompt) => {
    const parsed = parseChatSettings(prompt.text);
    if (!parsed.ok) return refuse(ui, prompt, parsed.message);
    return prompt.sessionId === undefined
      ? done({ ...ui, prompt: null })
      : done({ ...ui, prompt: null }, { type: 'set-chat', sessionId: prompt.sessionId, chat: parsed.settings });
  },
  'save-sessions': (ui, prompt) => {
    const path = prompt.text.trim();
    if (path === '') return refuse(ui, prompt, 'give a file name');
    // Over an existing file only once the prompt has said it exists (the runner checks, and reopens it saying so).
    return done({ ...ui, prompt: null }, { type: 'save-sessions', path, overwrite: path === prompt.overwrite });
  },
  // The confirm dialogs are buttons (`prompt.ts`): Enter never submits them as text.
  close: dismiss,
  cancel: dismiss,
  unload: dismiss,
  load: dismiss,
  delete: dismiss,
  quit: dismiss,
};

/**
 * The session `text` names, in screen order: its number (from 1), its tag, else the first whose model (as opened)
 * contains it, case aside.
 */
function findSession(text: string, ctx: KeyContext): number | undefined {
  if (/^[0-9]+$/.test(text)) {
    const index = Number(text) - 1;
    return ctx.sessions[index] === undefined ? undefined : index;
  }
  const lower = text.toLowerCase();
  const byTag = ctx.sessions.findIndex((s) => s.tag.toLowerCase() === lower);
  if (byTag !== -1) return byTag;
  const byModel = ctx.sessions.findIndex((s) => (s.model ?? '').toLowerCase().includes(lower));
  return byModel === -1 ? undefined : byModel;
}

/** What an empty Enter at the add-session key prompt uses, in words: the key of a session on the same server first. */
function defaultKeyLabel(server: string, ctx: KeyContext): string {
  const root = serviceRoot(server);
  const same = ctx.sessions.find((s) => s.hasKey === true && serviceRoot(s.server) === root);
  if (same !== undefined) return `key of ${same.tag}`;
  return ctx.hasDefaultKey === true ? 'the --api-key key' : 'no key';
}

/** A typed key: the key, `null` for none (`-`), undefined for the default (empty), or why it cannot be one. */
function readKey(text: string): string | null | undefined | { error: string } {
  if (text === '') return undefined;
  if (text === '-') return null;
  if (!/^[\x21-\x7e]+$/.test(text)) {
    return { error: 'the API key must be printable ASCII without spaces (it travels in an HTTP header)' };
  }
  return text;
}

/** Why `value` is not a usable server URL, or undefined when it is. */
export function checkServerUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a URL: '${value}' (like http://127.0.0.1:8000)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `the server URL must start with http:// or https://`;
  return undefined;
}
