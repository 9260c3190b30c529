// The server view's cursor as data: which row is selected as rows re-sort, what each action would do on a row and
// whom it reaches, which the row's state refuses; and through the key router, C on another client's load asks first
// and cancels it only on its dialog's button.
import t from 'tap';
import { createUiState, routeKey, type KeyContext, type UiState } from '../src/tui/keys.js';
import { rowAudience, rowHint, rowRefusal, selectedIndex, type ServerRowRef } from '../src/tui/server-cursor.js';

const row = (model: string, state: ServerRowRef['state'], extra: Partial<ServerRowRef> = {}): ServerRowRef => ({
  root: 'http://gpu-1:8000',
  model,
  state,
  subscribers: null,
  chats: 0,
  here: [],
  readOnly: false,
  ...extra,
});

t.test('the cursor keeps to its model as the rows re-sort, and falls back to the first when it is gone', async (t) => {
  const a = row('org/a@main', 'resident');
  const b = row('org/b@main', 'loading');
  t.equal(selectedIndex([a, b], { root: a.root, model: 'org/b@main' }), 1);
  t.equal(selectedIndex([b, a], { root: a.root, model: 'org/b' }), 0, 'org/b is org/b@main');
  t.equal(selectedIndex([a], { root: a.root, model: 'org/b@main' }), 0, 'gone: the first row');
  t.equal(selectedIndex([a, b], null), 0);
});

t.test('what an action would do, and whom it reaches, before anything is asked', async (t) => {
  const loading = row('org/b@main', 'loading', { subscribers: 3, here: [{ id: 's2', tag: 's2' }] });
  t.equal(rowAudience(loading), '1 session here (s2), 2 other clients following');
  t.equal(
    rowHint(loading),
    'C cancel the load of org/b on http://gpu-1:8000 · 1 session here (s2), 2 other clients following · Enter focuses s2',
  );
  const theirs = row('org/a@main', 'resident', { chats: 1 });
  t.equal(
    rowHint(theirs),
    'U unload org/a on http://gpu-1:8000 · no session here, 1 chat running: another client’s · Enter opens a session',
  );
  t.match(
    rowHint(row('org/c@main', 'on-disk', { readOnly: true })),
    /^L load org\/c on http:\/\/gpu-1:8000 \(read-only: off\)/,
  );
});

t.test('an action the row’s state does not allow is refused in words', async (t) => {
  t.match(rowRefusal(row('m@main', 'loading'), 'unload'), 'C cancels the load');
  t.match(rowRefusal(row('m@main', 'resident'), 'cancel'), 'no load of m on http://gpu-1:8000 is running');
  t.match(rowRefusal(row('m@main', 'resident'), 'load'), 'loaded already');
  t.match(rowRefusal(row('m@main', 'on-disk'), 'unload'), 'nothing to unload');
  t.equal(rowRefusal(row('m@main', 'on-disk'), 'load'), null);
  t.equal(rowRefusal(row('m@main', 'loading'), 'cancel'), null);
  t.equal(rowRefusal(row('m@main', 'resident'), 'unload'), null);
});

t.test('C on another client’s load opens the dialog on Keep; only → then Enter cancels it', async (t) => {
  const ctx: KeyContext = {
    sessions: [{ id: 's1', tag: 's1', server: 'http://gpu-1:8000', canChat: true }],
    lastSeq: 0,
    logPage: 10,
    defaultServer: 'http://gpu-1:8000',
    now: 0,
    serverRows: [row('org/a@main', 'resident'), row('org/b@main', 'loading', { subscribers: 1 })],
  };
  let ui: UiState = { ...createUiState(), serverView: true, serverFocused: true };
  ui = routeKey(ui, { name: 'down' }, ctx).ui;
  t.same(ui.serverCursor, { root: 'http://gpu-1:8000', model: 'org/b@main' });
  ui = routeKey(ui, { name: 'c', ch: 'C', shift: true }, ctx).ui;
  t.match(ui.prompt, { kind: 'cancel', target: { model: 'org/b@main' }, choices: ['keep', 'cancel'], choice: 0 });
  t.same(routeKey(ui, { name: 'enter', ch: '\r' }, ctx).commands, [], 'Enter on Keep cancels nothing');
  ui = routeKey(ui, { name: 'right' }, ctx).ui;
  t.same(routeKey(ui, { name: 'enter', ch: '\r' }, ctx).commands, [
    { type: 'server-action', action: 'cancel', root: 'http://gpu-1:8000', model: 'org/b@main' },
  ]);
});
