/**
 * The confirm dialog as plain data: what it asks, **who is affected** (every client of a server for an unload, every
 * client following a load for a cancel, the transcript for a close, the log and the sessions for a quit), and its
 * buttons, the chosen one marked. Pure; `view-model.ts` places it and `render.ts` draws it over the screen.
 */

import { serviceRoot } from '../client/server-url.js';
import { formatBytes } from '../client/format.js';
import type { DialogChoice, Prompt } from './keys.js';
import { clipLine, seg, type Line, type Segment } from './lines.js';
import type { Rect, ScreenSize } from './screen-layout.js';
import type { ServerModelRow, ServerState } from './server-state.js';
import type { SessionState } from './session-state.js';
import { wrap } from './text-wrap.js';

/** The dialog over the screen. */
export interface DialogView {
  readonly rect: Rect;
  /** The border's label (` unload `). */
  readonly title: string;
  readonly lines: readonly Line[];
}

/** What the dialog reads besides its prompt. */
export interface DialogInput {
  readonly sessions: readonly SessionState[];
  readonly servers: readonly ServerState[];
  /** Entries in the event log. */
  readonly logEntries: number;
  readonly size: ScreenSize;
}

/** The widest the dialog gets, in columns. */
const MAX_WIDTH = 78;

/** The dialog for a confirm prompt (`close`, `cancel`, `unload`, `quit`). */
export function confirmDialog(prompt: Prompt, input: DialogInput): DialogView {
  const width = Math.min(input.size.cols, MAX_WIDTH);
  const inner = Math.max(10, width - 4);
  const { title, paragraphs } = dialogText(prompt, input);
  const body: Line[] = paragraphs.flatMap((p, i) => [
    ...(i > 0 ? [[] as Line] : []),
    ...wrap(p.text, inner).map((text): Line => [seg(text, p.tone ?? 'normal')]),
  ]);
  const lines: Line[] = [
    ...body,
    [],
    buttons(prompt),
    [seg('←→ choose · Enter presses the chosen button · Esc or any letter keeps', 'dim')],
  ].map((line) => clipLine(line, inner));
  const height = Math.min(input.size.rows, lines.length + 2);
  return {
    rect: {
      left: Math.max(0, Math.floor((input.size.cols - width) / 2)),
      top: Math.max(0, Math.floor((input.size.rows - height) / 2)),
      width,
      height,
    },
    title: ` ${title} `,
    lines,
  };
}

/** A paragraph of the dialog's text. */
interface Paragraph {
  readonly text: string;
  readonly tone?: Segment['tone'];
}

/** The dialog's title and what it says, by kind. */
function dialogText(prompt: Prompt, input: DialogInput): { title: string; paragraphs: Paragraph[] } {
  const session = input.sessions.find((s) => s.id === prompt.sessionId);
  const target = prompt.target;
  const model =
    target !== undefined
      ? target.model
      : session === undefined
        ? 'the model'
        : (session.resolvedModel ?? session.model);
  const server =
    target !== undefined ? target.root : session === undefined ? 'its server' : serviceRoot(session.server);
  const row = session === undefined && target === undefined ? undefined : serverRow(input.servers, server, model);
  // The sessions of this dashboard on that model: the session's own, or the row's.
  const here = input.sessions.filter((s) => sameModelOn(s, server, model));
  switch (prompt.kind) {
    case 'unload':
      return {
        title: 'unload',
        paragraphs: [
          { text: `Unload ${model} for every client of ${server}?`, tone: 'warn' },
          { text: whoUses(here, row) },
          { text: 'Its files stay in the server’s cache: a later load reads them from disk.', tone: 'dim' },
        ],
      };
    case 'cancel':
      return {
        title: 'cancel load',
        paragraphs: [
          {
            text: `Cancel the load of ${model} on ${server}, for every client following it${following(row)}?`,
            tone: 'warn',
          },
          ...(target === undefined ? [] : [{ text: hereWords(here, 'follow it') }]),
          { text: 'Files fetched completely stay in the cache; r loads again and resumes.', tone: 'dim' },
        ],
      };
    case 'load':
      return { title: 'load', paragraphs: loadText(model, server, here) };
    case 'delete':
      return {
        title: 'delete',
        paragraphs: [
          { text: `Delete ${model} from the disk of ${server}?`, tone: 'warn' },
          { text: `${hereWords(here, 'use it')} Every client of that server loses it.` },
          { text: 'Its files must be downloaded again: a later load fetches them anew.', tone: 'dim' },
        ],
      };
    case 'close':
      return {
        title: 'close session',
        paragraphs: [
          { text: `Close ${session?.tag ?? 'the session'} (${model} on ${server})?`, tone: 'warn' },
          { text: transcriptWords(session) },
          { text: 'Nothing changes on the server: a load goes on, a loaded model stays.', tone: 'dim' },
        ],
      };
    case 'quit':
      return { title: 'quit', paragraphs: quitText(prompt, input) };
    default:
      return { title: prompt.kind, paragraphs: [] };
  }
}

/** The server view's row for `model` on `root`, matching `org/name` to `org/name@main`. */
function serverRow(servers: readonly ServerState[], root: string, model: string): ServerModelRow | undefined {
  const rows = servers.find((s) => s.root === root)?.rows ?? {};
  const bare = (id: string): string => id.replace(/@main$/, '');
  return Object.values(rows).find((r) => bare(r.model) === bare(model));
}

/** What loading a row's model asks: it takes the server's memory, and may push an idle model out. */
function loadText(model: string, server: string, here: readonly SessionState[]): Paragraph[] {
  return [
    { text: `Load ${model} into the memory of ${server}?`, tone: 'warn' },
    {
      text:
        'Every client of that server shares it. A server at its --max-models or --max-memory bound unloads an idle ' +
        'model to make room, which may be another client’s.',
    },
    {
      text: `${hereWords(here, 'use it')} The load shows in this view; Enter on the row opens a session on it.`,
      tone: 'dim',
    },
  ];
}

/** `Here, s1 and s2 use it.`, or that no session of this dashboard does. */
function hereWords(here: readonly SessionState[], verb: string): string {
  return here.length === 0 ? 'No session here uses it.' : `Here, ${andList(here.map((s) => s.tag))} ${verb}.`;
}

/** Who loses the model: the chats running on it, and the sessions of this dashboard on it (`here`). */
function whoUses(sessions: readonly SessionState[], row?: ServerModelRow): string {
  const here = sessions.map((s) => s.tag);
  const parts = [
    row === undefined
      ? 'Other clients of that server may be using it.'
      : `On the server it is ${row.state === 'resident' ? 'loaded' : row.state}${row.sizeBytes === null ? '' : ` (${formatBytes(row.sizeBytes)})`}, ${row.chats === 1 ? '1 chat' : `${row.chats} chats`} running on it now.`,
    here.length === 0 ? 'No session here uses it.' : here.length === 1 ? '' : `Here, ${here.join(', ')} use it.`,
    'Any client that chats with it afterwards waits for it to load again.',
  ];
  return parts.filter((p) => p !== '').join(' ');
}

/** Whether session `s` is on `model` at `root`, `org/name` matching `org/name@main`. */
function sameModelOn(s: SessionState, root: string, model: string): boolean {
  const bare = (id: string): string => id.replace(/@main$/, '');
  return serviceRoot(s.server) === root && bare(s.resolvedModel ?? s.model) === bare(model);
}

function following(row: ServerModelRow | undefined): string {
  return row?.subscribers === null || row?.subscribers === undefined ? '' : ` (${row.subscribers} following now)`;
}

function transcriptWords(session: SessionState | undefined): string {
  const entries = session?.transcript.length ?? 0;
  if (entries === 0) return 'It has no transcript.';
  return `Its transcript (${entries} ${entries === 1 ? 'entry' : 'entries'}) is dropped, with no undo.`;
}

/** What quitting leaves behind, and what Save & quit saves, and where. */
function quitText(prompt: Prompt, input: DialogInput): Paragraph[] {
  const loads = input.sessions.filter((s) => ['connecting', 'loading', 'reconnecting'].includes(s.phase)).length;
  const transcripts = input.sessions.filter((s) => s.transcript.length > 0).length;
  const lost = [
    loads > 0 ? `stops watching ${count(loads, 'load')} (they go on on their servers)` : '',
    transcripts > 0 ? `drops ${count(transcripts, 'transcript')}` : '',
    input.logEntries > 0 ? `drops the event log (${count(input.logEntries, 'line')}) unless saved` : '',
    prompt.saves?.sessions !== undefined ? `leaves ${prompt.saves.sessions} without the sessions’ changes` : '',
  ].filter((x) => x !== '');
  const saves = [
    prompt.saves?.log !== undefined ? `the event log to ${prompt.saves.log} (for modeldeck replay)` : '',
    prompt.saves?.sessions !== undefined ? `the open sessions to ${prompt.saves.sessions}` : '',
  ].filter((x) => x !== '');
  return [
    { text: 'Quit modeldeck?', tone: 'warn' },
    { text: lost.length === 0 ? 'Nothing is lost.' : `Quitting ${andList(lost)}.` },
    ...(saves.length === 0
      ? []
      : [{ text: `Save & quit writes ${saves.join(', and ')}, then quits.`, tone: 'dim' } as const]),
  ];
}

const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `a`, `a and b`, `a, b and c`. */
function andList(parts: readonly string[]): string {
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1) ?? ''}`;
}

/** The buttons, left to right, the chosen one marked `▶ … ◀` and inverse. */
function buttons(prompt: Prompt): Line {
  const choices = prompt.choices ?? ['keep'];
  const at = Math.min(Math.max(prompt.choice ?? 0, 0), choices.length - 1);
  const out: Segment[] = [seg('  ')];
  choices.forEach((choice, i) => {
    if (i > 0) out.push(seg('   '));
    const label = buttonLabel(prompt, choice);
    out.push(i === at ? seg(`▶ ${label} ◀`, 'selected') : seg(`[ ${label} ]`, 'accent'));
  });
  return out;
}

/** A button's words. */
export function buttonLabel(prompt: Prompt, choice: DialogChoice): string {
  switch (choice) {
    case 'keep':
      return prompt.kind === 'quit' ? 'Cancel' : prompt.kind === 'cancel' ? 'Let it run' : 'Keep';
    case 'close':
      return 'Close';
    case 'cancel':
      return 'Cancel the load';
    case 'unload':
      return 'Unload';
    case 'load':
      return 'Load';
    case 'delete':
      return 'Delete';
    case 'quit':
      return 'Quit';
    case 'save-quit': {
      const what = [
        prompt.saves?.log !== undefined ? 'log' : '',
        prompt.saves?.sessions !== undefined ? 'sessions' : '',
      ]
        .filter((x) => x !== '')
        .join(' & ');
      return `Save ${what} & quit`;
    }
    default: {
      const never: never = choice;
      throw new TypeError(`unknown choice ${String(never)}`);
    }
  }
}
