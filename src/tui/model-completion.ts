/**
 * Tab completion of a model id from the ids its server lists, the way a shell completes a file name: Tab completes
 * what is typed to the longest prefix the matching ids share; when that adds nothing (the typed text is ambiguous),
 * Tab and Shift-Tab cycle through the matches. Pure; the ids come from `model-list.ts`.
 */

/** Where cycling through the matches stands: the text the cycle started from, and the match shown. */
export interface ModelCompletion {
  readonly base: string;
  readonly index: number;
}

/** What the status line shows under a model prompt: the matching ids, and which one Tab put in the prompt. */
export interface CompletionCandidates {
  readonly matches: readonly string[];
  /** Index in `matches` of the id shown in the prompt while cycling, else `null`. */
  readonly current: number | null;
}

/** The ids that start with `text`, sorted and without repeats. */
function matchingIds(text: string, ids: readonly string[]): string[] {
  return [...new Set(ids.filter((id) => id.startsWith(text)))].sort();
}

function commonPrefix(values: readonly string[]): string {
  const [first, ...rest] = values;
  if (first === undefined) return '';
  let end = first.length;
  for (const value of rest) {
    let i = 0;
    while (i < end && i < value.length && value[i] === first[i]) i += 1;
    end = i;
  }
  return first.slice(0, end);
}

/** The cycle `completing` describes, if the prompt still shows its match (any edit since ends it). */
function activeCycle(
  text: string,
  completing: ModelCompletion | undefined,
  ids: readonly string[],
): { matches: string[]; index: number } | undefined {
  if (completing === undefined) return undefined;
  const matches = matchingIds(completing.base, ids);
  return matches[completing.index] === text ? { matches, index: completing.index } : undefined;
}

/** The ids matching what is typed (while cycling, what the cycle started from). */
export function completionCandidates(
  text: string,
  completing: ModelCompletion | undefined,
  ids: readonly string[],
): CompletionCandidates {
  const cycle = activeCycle(text, completing, ids);
  return cycle ? { matches: cycle.matches, current: cycle.index } : { matches: matchingIds(text, ids), current: null };
}

/**
 * One Tab (`next`) or Shift-Tab (`previous`) in a model prompt: the next text, and the cycle it is in (absent when
 * not cycling). No match leaves the text as it is: any id may still be typed.
 */
export function completeModelId(
  text: string,
  completing: ModelCompletion | undefined,
  ids: readonly string[],
  direction: 'next' | 'previous',
): { readonly text: string; readonly completing?: ModelCompletion } {
  const step = direction === 'next' ? 1 : -1;
  const cycle = activeCycle(text, completing, ids);
  if (cycle !== undefined && completing !== undefined) {
    const index = (cycle.index + step + cycle.matches.length) % cycle.matches.length;
    return { text: cycle.matches[index] ?? text, completing: { base: completing.base, index } };
  }
  const matches = matchingIds(text, ids);
  if (matches.length === 0) return { text };
  if (matches.length === 1) return { text: matches[0] ?? text };
  const prefix = commonPrefix(matches);
  if (prefix.length > text.length) return { text: prefix };
  // Ambiguous: cycle, starting after the typed text when it is itself one of the ids.
  const at = matches.indexOf(text);
  const index = at === -1 ? (step === 1 ? 0 : matches.length - 1) : (at + step + matches.length) % matches.length;
  return { text: matches[index] ?? text, completing: { base: text, index } };
}
