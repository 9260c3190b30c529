/**
 * The server view's actions in the dashboard's model: the rows its cursor walks (for the key router), and what a
 * confirmed `L`, `U`, `C` or `D` on a row asks of the world (the server's load, unload, cancel or delete, whoever's
 * model it is) and makes of the answer. A read-only dashboard, or a server every session of which is read-only, is
 * refused here too, the last word before the wire. Pure.
 */

import { serviceRoot } from '../client/server-url.js';
import type { Failure } from '../client/failures.js';
import type { ServerKind } from '../client/server-kind.js';
import {
  isReadOnly,
  keyFor,
  serverStates,
  sessionStates,
  type DashboardModel,
  type Update,
} from './dashboard-model.js';
import type { Command } from './keys.js';
import { bareModel, liveFilter, serverRowRefs, type RowAction, type ServerRowRef } from './server-cursor.js';
import { unloadedBySession } from './session-residency.js';

/** The effect a confirmed row action asks of the runtime. */
export interface ServerActionEffect {
  readonly type: 'server-action';
  readonly action: RowAction;
  readonly root: string;
  readonly model: string;
  readonly apiKey: string | undefined;
  /** A session of this dashboard on that server, whose kind of server decides the route; absent: modeldeck's. */
  readonly via?: string;
  /** The server's kind as its polls or a session's config know it, for when no session on it knows its own. */
  readonly kind?: ServerKind;
}

/** How a row action ended. */
export interface ServerActionDone {
  readonly type: 'server-action-done';
  readonly action: RowAction;
  readonly root: string;
  readonly model: string;
  readonly failure: Failure | null;
  /** When it ended (ms since the epoch). */
  readonly at: number;
}

/** The sessions of the dashboard on `root`, in screen order. */
function sessionsOn(model: DashboardModel, root: string): string[] {
  return model.order.filter((id) => serviceRoot(model.sessions[id]?.spec.server ?? '') === root);
}

/** The dashboard may change nothing on `root`: `--read-only`, or every session on it is read-only. */
export function serverReadOnly(model: DashboardModel, root: string): boolean {
  const on = sessionsOn(model, root);
  return model.readOnly || (on.length > 0 && on.every((id) => isReadOnly(model, id)));
}

/** The rows the server view's cursor walks, as the key router sees them; none while the view is closed. */
export function serverRowsForKeys(model: DashboardModel): ServerRowRef[] {
  if (!model.ui.serverView) return [];
  const rows = serverRowRefs(
    serverStates(model),
    sessionStates(model),
    liveFilter(model.ui),
    (root) => serverReadOnly(model, root),
    (root) => serverKind(model, root),
  );
  return rows;
}

/** The kind of server at `root`: what its polls read, else what a session on it names; undefined when unknown. */
function serverKind(model: DashboardModel, root: string): ServerKind | undefined {
  return model.servers[root]?.kind ?? sessionsOn(model, root).flatMap((id) => model.sessions[id]?.spec.kind ?? [])[0];
}

/** A confirmed row action: the request for the runtime, unless the dashboard may not act there. */
export function runServerAction(model: DashboardModel, command: Extract<Command, { type: 'server-action' }>): Update {
  const { action, root } = command;
  // The key router refused already; this is the last word before the wire.
  if (serverReadOnly(model, root)) {
    return {
      model: { ...model, notice: { text: `read-only: ${action} is off (nothing changes on ${root})`, tone: 'warn' } },
      effects: [],
    };
  }
  const via = sessionsOn(model, root)[0];
  const kind = serverKind(model, root);
  const apiKey = keyFor(model, root) ?? (model.defaultApiKey === '' ? undefined : model.defaultApiKey);
  const effect: ServerActionEffect = {
    type: 'server-action',
    action,
    root,
    model: command.model,
    apiKey,
    ...(via !== undefined ? { via } : {}),
    ...(kind !== undefined ? { kind } : {}),
  };
  const doing = DOING[action];
  return {
    model: { ...model, notice: { text: `${doing} ${bareModel(command.model)} on ${root}…`, tone: 'accent' } },
    effects: [effect],
  };
}

/** What the notice says while a row action runs. */
const DOING: Readonly<Record<RowAction, string>> = {
  load: 'loading',
  unload: 'unloading',
  cancel: 'cancelling the load of',
  delete: 'deleting the files of',
};

/** What the notice says once a row action is done. */
const DONE: Readonly<Record<RowAction, (name: string) => string>> = {
  load: (name) => `loaded ${name}`,
  unload: (name) => `unloaded ${name} for every client`,
  cancel: (name) => `cancelled the load of ${name} for every client following it`,
  delete: (name) => `deleted ${name} from the server’s disk: a later load downloads it again`,
};

/** `servers` without `model`'s row on `root`. */
function withoutRow(servers: DashboardModel['servers'], root: string, model: string): DashboardModel['servers'] {
  const server = servers[root];
  if (server === undefined) return servers;
  const rows = Object.fromEntries(
    Object.entries(server.rows).filter(([, row]) => bareModel(row.model) !== bareModel(model)),
  );
  return { ...servers, [root]: { ...server, rows } };
}

/** How a row action ended: a notice; the sessions here on a model that was unloaded say so at once. */
export function serverActionDone(model: DashboardModel, done: ServerActionDone): Update {
  const name = `${bareModel(done.model)} on ${done.root}`;
  if (done.failure !== null) {
    const what = done.action === 'cancel' ? 'cancel the load of' : done.action;
    return {
      model: { ...model, notice: { text: `could not ${what} ${name}: ${done.failure.message}`, tone: 'error' } },
      effects: [],
    };
  }
  let sessions = model.sessions;
  // Deleted files are no row: the server's feed says nothing of a deletion, and the row would claim them on disk.
  const servers = done.action === 'delete' ? withoutRow(model.servers, done.root, done.model) : model.servers;
  if (done.action === 'unload') {
    for (const id of sessionsOn(model, done.root)) {
      const entry = sessions[id];
      if (entry === undefined || bareModel(entry.state.resolvedModel ?? entry.state.model) !== bareModel(done.model)) {
        continue;
      }
      sessions = { ...sessions, [id]: { ...entry, state: unloadedBySession(entry.state, done.at) } };
    }
  }
  const text = DONE[done.action](name);
  return { model: { ...model, sessions, servers, notice: { text, tone: 'ok' } }, effects: [] };
}
