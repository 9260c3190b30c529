/**
 * The help overlay's entries, in the order the overlay lists them. Each binding row points at the entry that tells its
 * keys (`Binding.help`); the overlay shows the entries some row points at (`modes.ts`), and a test holds every
 * key a row binds to the entry it points at, and every key an entry names to a row that binds it.
 */

import type { HelpEntry } from './binding.js';

/** Every help entry, by the action it tells. */
export const HELP = {
  nextSession: ['Tab / Shift-Tab', 'next / previous session'],
  jump: ['1–9', 'jump to session 1–9 (in screen order; not while typing, where digits are text)'],
  jumpTo: ['Ctrl-G', 'jump to any session: type its number (10 and up too), its tag or part of its model, then Enter'],
  type: ['Enter', 'type a chat message in the focused session; until then letters are commands, never text'],
  send: ['Enter (typing)', 'send the message; Esc stops typing'],
  move: [
    'Left Right Home End',
    'move on the line being typed (message or prompt); Ctrl-A Ctrl-E too, Alt-B Alt-F or Ctrl-Left Ctrl-Right by word',
  ],
  delete: [
    'Ctrl-U Ctrl-K Ctrl-W',
    'delete to the start / the end / the word before the cursor (Alt-Backspace too); Backspace or Ctrl-H, Del one character',
  ],
  history: [
    'Up / Down (typing)',
    'walk back / forward through the messages sent in this session; the draft comes back',
  ],
  options: [
    'Ctrl-O',
    'chat settings of the focused session: temperature= maxTokens= seed= system=… (the next message uses them)',
  ],
  scrollTranscript: [
    'PgUp / PgDn',
    'scroll the focused session’s transcript back / forward (typing or not); at the bottom it follows',
  ],
  stopReply: ['Ctrl-X', 'stop the focused session’s reply while it streams (typing or not); the partial reply is kept'],
  add: [
    'Ctrl-N',
    'add a session (asks for the server, the model, then the API key: Enter takes the default shown, - none)',
  ],
  complete: ['Tab (model)', 'complete a model id from the server; again cycles (Shift-Tab back)'],
  edit: [
    'Ctrl-E',
    'edit the focused session: server, model and API key, prefilled (Enter keeps the key, - none); reopens it, keeping its tag and transcript',
  ],
  retry: ['r', 'retry the focused session now (after an error or while reconnecting; else it says so)'],
  saveSessions: ['Ctrl-S', 'write the open sessions to a config file (the --config one, else modeldeck.json)'],
  close: ['X', 'close the focused session, dropping its transcript (asks first)'],
  cancel: ['C', 'cancel the focused session’s load, for every client following it (asks first)'],
  unload: ['U', 'unload the focused session’s model, for every client of its server (asks first)'],
  servers: [
    'v',
    'server view below the sessions: every model on each server (state, stage, progress, subscribers, size), live; it takes the keys (v again closes it)',
  ],
  serverRows: [
    'Up Down k j PgUp PgDn Home End (servers)',
    'move the server view’s cursor over every model of every server, other clients’ loads too',
  ],
  serverOpen: ['Enter (servers)', 'open a session on the selected row’s server and model, or focus the one open on it'],
  serverLoad: ['L (servers)', 'load the selected row’s model on its server (asks first: a full server may evict one)'],
  serverUnload: ['U (servers)', 'unload the selected row’s model, whoever loaded it, for every client (asks first)'],
  serverCancel: ['C (servers)', 'cancel the selected row’s load, for every client following it (asks first)'],
  serverDelete: [
    'D (servers)',
    'delete the selected row’s model from its server’s disk; it downloads again (asks first)',
  ],
  serverFilter: ['Ctrl-F (servers)', 'filter the server view’s rows by model, server or state (Esc clears)'],
  serverBack: [
    'Esc Tab Shift-Tab (servers)',
    'give the keys back to the sessions (Esc clears a filter first); the view stays',
  ],
  reasoning: ['t', 'fold / show the models’ reasoning (thinking) in every transcript: folded, one line per reply'],
  zoom: ['f', 'zoom the focused session to the full screen (its load detail too); f or Esc returns'],
  log: ['l', 'focus the event log (Tab, Esc or l goes back)'],
  follow: ['space (log)', 'follow / pause the log; paused shows how many lines are new'],
  scrollLog: ['Up Down PgUp PgDn (log)', 'scroll the log (scrolling up pauses); End follows again'],
  zoomLog: ['f (log)', 'zoom the log to the full screen; f returns'],
  sideways: ['Left / Right (log)', 'scroll long lines sideways, in every view (the time and tag columns stay)'],
  copies: [
    'e (log)',
    'show / fold the server feeds’ copies of the sessions’ own frames (folded: the session’s line is marked ⇄)',
  ],
  scrollLine: ['k / j (log)', 'scroll the log up / down one line, like Up / Down'],
  followAgain: ['G (log)', 'follow the log again, like End'],
  filter: ['Ctrl-F (log)', 'filter the log by text (empty clears)'],
  filterSession: ['s (log)', 'filter the log by session (cycles through sessions, then all)'],
  save: [
    'Ctrl-S (log)',
    'save: a .jsonl name saves the whole filtered history (for replay); a .txt name, or any in the debug views, exactly the lines shown',
  ],
  views: ['v (log)', 'cycle the log view: frames, debug (time, stream, gap, stalls, lint marks), wire (bytes as sent)'],
  cursor: ['Up Down (debug)', 'move the cursor (moving up pauses); Enter opens the inspector, Esc closes it'],
  inspector: ['PgUp PgDn (inspector)', 'scroll the inspector'],
  nextFault: ['n (debug)', 'move the cursor to the next frame with a lint fault'],
  replay: [
    'space (replay)',
    'pause / resume a replay (modeldeck replay; in the log pane space follows or pauses the log)',
  ],
  step: ['. (replay)', 'play the next saved line of a replay (pausing first)'],
  help: [
    '?',
    'this help (PgDn, Down or space: next page where it has several, PgUp or Up back; any other key closes it)',
  ],
  dialog: [
    'Left Right Enter (dialog)',
    'a confirm dialog opens on the button that keeps everything: Left, Right (Tab, Shift-Tab) choose, Enter presses; Esc or a letter keeps',
  ],
  quit: [
    'Q / Ctrl-C',
    'quit: Q asks, offering to save the log (and the sessions); Ctrl-C asks only when something would be lost',
  ],
} as const satisfies Readonly<Record<string, HelpEntry>>;
