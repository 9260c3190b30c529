/**
 * A session's input history, as a shell keeps one: the messages sent (bounded, no two in a row the same), and where
 * Up / Down stand while walking it. The line being typed when the walk starts is kept and comes back when Down walks
 * past the newest message. Pure.
 */

/** Messages one session's history keeps. */
export const HISTORY_LIMIT = 100;

/** One session's history. */
export interface InputHistory {
  /** Messages sent, oldest first. */
  readonly sent: readonly string[];
  /** The message shown while walking (an index into {@link InputHistory.sent}), `null` when not walking. */
  readonly at: number | null;
  /** The line as it was when the walk started. */
  readonly draft: string;
}

/** A history with nothing sent. */
export const EMPTY_HISTORY: InputHistory = { sent: [], at: null, draft: '' };

/** `history` after `message` was sent: kept unless it repeats the newest, the oldest dropped past the limit. */
export function remember(history: InputHistory, message: string): InputHistory {
  const sent = history.sent.at(-1) === message ? history.sent : [...history.sent, message].slice(-HISTORY_LIMIT);
  return { sent, at: null, draft: '' };
}

/** `history` once the line shown was edited: the walk ends there (the next Up keeps the edited line as the draft). */
export function stopWalking(history: InputHistory): InputHistory {
  return history.at === null ? history : { ...history, at: null, draft: '' };
}

/**
 * One step back (Up) or forward (Down) from the line `current`: the history and the text to show, or `undefined` when
 * there is nothing that way (Up at the oldest, Down while not walking).
 */
export function walk(
  history: InputHistory,
  direction: 'back' | 'forward',
  current: string,
): { readonly history: InputHistory; readonly text: string } | undefined {
  const { sent, at } = history;
  if (direction === 'back') {
    if (sent.length === 0 || at === 0) return undefined;
    const next = at === null ? sent.length - 1 : at - 1;
    return {
      history: { sent, at: next, draft: at === null ? current : history.draft },
      text: sent[next] ?? '',
    };
  }
  if (at === null) return undefined;
  if (at + 1 < sent.length) return { history: { ...history, at: at + 1 }, text: sent[at + 1] ?? '' };
  return { history: { sent, at: null, draft: '' }, text: history.draft };
}
