/**
 * The server view's rows as its cursor walks them: every model of every server the view shows (loads of other
 * clients included), in the order the panes show them, narrowed by the view's filter; which of them is selected (by
 * server and model, so the cursor stays on its model when rows re-sort or change); and what each action would do on
 * the selected row, in words, before anything is confirmed. Pure.
 */

import { adapterFor, notSupported } from '../client/engine-adapter.js';
import type { ServerKind } from '../client/server-kind.js';
import { serviceRoot } from '../client/server-url.js';
import type { ServerModelRow, ServerState } from './server-state.js';
import { rowMatches, serverPaneRows } from './server-view.js';
import type { SessionState } from './session-state.js';
import { sameServer } from './session-pane.js';

/** Where the cursor is: a model on a server. */
export interface ServerRowKey {
  /** The server's service root (`http://host:port`). */
  readonly root: string;
  /** The model as the server writes it (`org/name@main`). */
  readonly model: string;
}

/** One row the cursor can select, with what the key router needs to know of it. */
export interface ServerRowRef extends ServerRowKey {
  readonly state: ServerModelRow['state'];
  /** Clients following its load (the server's count, this dashboard's sessions among them); `null`: not said. */
  readonly subscribers: number | null;
  /** Chats running on it now. */
  readonly chats: number;
  /** This dashboard's sessions on this server and model, in screen order. */
  readonly here: readonly { readonly id: string; readonly tag: string }[];
  /** This dashboard may change nothing on the server (`--read-only`, or every session on it is `readOnly`). */
  readonly readOnly: boolean;
  /**
   * The server's kind: as its polls found it (`ServerState.kind`), else as a session on it declares it (`kind` in its
   * config); absent: not known.
   */
  readonly kind?: ServerKind;
}

/** An id without the `@main` every id has by default (`org/name@main` and `org/name` are one model). */
export const bareModel = (id: string): string => id.replace(/@main$/, '');

/**
 * Every row the view shows, in its order: the servers that answer (an unreachable one is a line without rows), each
 * one's rows as its pane sorts them, those matching `filter`. `readOnly(root)` says whether the dashboard may act there.
 */
export function serverRowRefs(
  servers: readonly ServerState[],
  sessions: readonly SessionState[],
  filter: string,
  readOnly: (root: string) => boolean,
  kindOf: (root: string) => ServerKind | undefined = () => undefined,
): ServerRowRef[] {
  return servers.flatMap((server) => {
    if (server.lostSince !== null) return [];
    const own = sessions.filter((s) => sameServer(s.server, server.root));
    return serverPaneRows(server, own)
      .filter((row) => rowMatches(row, server.root, filter))
      .map((row) => ({
        root: server.root,
        model: row.model,
        state: row.state,
        subscribers: row.subscribers,
        chats: row.chats,
        here: own
          .filter((s) => bareModel(s.resolvedModel ?? s.model) === bareModel(row.model))
          .map((s) => ({ id: s.id, tag: s.tag })),
        readOnly: readOnly(server.root),
        ...withKind(kindOf(server.root)),
      }));
  });
}

const withKind = (kind: ServerKind | undefined): { kind?: ServerKind } => (kind === undefined ? {} : { kind });

/** The index of the selected row: the cursor's, else the first (its model gone or filtered out). */
export function selectedIndex(rows: readonly ServerRowKey[], cursor: ServerRowKey | null): number {
  if (cursor === null) return 0;
  const at = rows.findIndex((r) => r.root === cursor.root && bareModel(r.model) === bareModel(cursor.model));
  return at < 0 ? 0 : at;
}

/** The action a capital key takes on a row. */
export type RowAction = 'load' | 'unload' | 'cancel' | 'delete';

/**
 * Why `action` makes no sense for the row as it stands, in words (the notice a refused key shows), or `null` when it
 * does: a load only of a model not in memory nor loading, an unload only of a resident one, a cancel only of a load, a
 * delete of a model neither loading nor in memory (a modeldeck server refuses those, 409 MODEL_IN_USE), except on
 * Ollama, which unloads a resident model and deletes it.
 */
export function rowRefusal(row: ServerRowRef, action: RowAction): string | null {
  const name = `${bareModel(row.model)} on ${row.root}`;
  const unsupported = kindRefusal(row.kind, action);
  if (unsupported !== null) return `${unsupported}: nothing was asked of ${row.root}`;
  switch (action) {
    case 'load':
      if (row.state === 'resident') return `${name} is loaded already (U unloads it)`;
      if (row.state === 'loading') return `${name} is loading already (C cancels it)`;
      return null;
    case 'unload':
      if (row.state === 'loading') return `${name} is still loading: C cancels the load`;
      // Unknown: the kind does not say whether it is in memory; its own unload (if any) will.
      if (row.state !== 'resident' && row.state !== 'unknown') {
        return `${name} is not in memory (${row.state}): nothing to unload`;
      }
      return null;
    case 'cancel':
      if (row.state !== 'loading') return `no load of ${name} is running to cancel (${row.state})`;
      return null;
    case 'delete':
      if (row.state === 'loading') return `${name} is loading: C cancels the load first, then D deletes its files`;
      if (row.state === 'resident' && row.kind !== 'ollama') {
        return `${name} is in memory: U unloads it first, then D deletes its files`;
      }
      return null;
    default: {
      const never: never = action;
      throw new TypeError(`unknown row action ${String(never)}`);
    }
  }
}

/** The words for an action the server's kind has no route for (vLLM unloads nothing), or `null`. */
function kindRefusal(kind: ServerKind | undefined, action: RowAction): string | null {
  if (kind === undefined) return null;
  const adapter = adapterFor(kind);
  const can = action === 'load' ? true : action === 'delete' ? adapter.deleteModel !== undefined : adapter.unload;
  return can === undefined || can === false ? notSupported(action, kind).message : null;
}

/** The action the row's state offers (`L`, `U` or `C`). */
export function rowOffer(row: ServerRowRef): RowAction {
  return row.state === 'resident' ? 'unload' : row.state === 'loading' ? 'cancel' : 'load';
}

/**
 * Who an action on the row reaches: `2 sessions here (s1, s3), 1 other client following`, `no session here: another
 * client's`. Other clients are what the server counts beyond this dashboard's sessions: followers of a load, chats
 * running on a resident model.
 */
export function rowAudience(row: ServerRowRef): string {
  const here = row.here.length;
  const tags = here === 0 ? '' : ` (${row.here.map((s) => s.tag).join(', ')})`;
  const others = row.state === 'loading' && row.subscribers !== null ? Math.max(0, row.subscribers - here) : 0;
  const parts = [
    here === 0 ? 'no session here' : `${plural(here, 'session')} here${tags}`,
    ...(others > 0 ? [`${plural(others, 'other client')} following`] : []),
    ...(row.chats > 0 ? [`${plural(row.chats, 'chat')} running`] : []),
  ];
  const owner =
    here === 0 && others === 0 && (row.state === 'resident' || row.state === 'loading' || row.state === 'failed')
      ? ': another client’s'
      : '';
  return `${parts.join(', ')}${owner}`;
}

/**
 * What the keys would do on the selected row, before anything is confirmed: `U unload org/m on http://box:8000 · 2
 * sessions here (s1, s2), 1 chat running · Enter focuses s1`.
 */
export function rowHint(row: ServerRowRef): string {
  const action = rowOffer(row);
  const key = action === 'load' ? 'L' : action === 'unload' ? 'U' : 'C';
  const verb = action === 'cancel' ? 'cancel the load of' : action;
  const enter = row.here[0] === undefined ? 'Enter opens a session' : `Enter focuses ${row.here[0].tag}`;
  const refused = row.readOnly ? ' (read-only: off)' : '';
  return `${key} ${verb} ${bareModel(row.model)} on ${serviceRoot(row.root)}${refused} · ${rowAudience(row)} · ${enter}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The filter the view applies now: the one being typed while `/` is open, else the one kept. */
export function liveFilter(ui: {
  readonly prompt: { readonly kind: string; readonly text: string } | null;
  readonly serverFilter: string;
}): string {
  return ui.prompt?.kind === 'server-filter' ? ui.prompt.text : ui.serverFilter;
}
