// The table of a model worker's calls alone (worker-calls.ts), over a stand-in for the thread's ref()/unref(): replies
// reach their call, a worker keeps the process alive only while a call is in flight, and a dead worker fails them all.
import t from 'tap';
import { createWorkerCalls, type PendingCall } from '../src/server/worker-calls.js';
import type { WorkerResult } from '../src/server/worker-messages.js';

function setup() {
  const refs: string[] = [];
  const calls = createWorkerCalls({ ref: () => refs.push('ref'), unref: () => refs.push('unref') });
  const record = () => {
    const got: string[] = [];
    const call: PendingCall = {
      resolve: (result?: WorkerResult) => got.push(`done ${JSON.stringify(result)}`),
      reject: (error: Error) => got.push(`failed ${error.message} ${(error as { code?: string }).code ?? '-'}`),
      onProgress: (current, total) => got.push(`progress ${current}/${total}`),
      onText: (text) => got.push(`text ${text}`),
    };
    return { call, got };
  };
  return { refs, calls, record };
}

t.test('replies reach their call; done and failed end it; a reply to no call is dropped', async (t) => {
  const { refs, calls, record } = setup();
  t.same(refs, ['unref'], 'a worker with no call does not keep the process alive');
  const a = record();
  const b = record();
  const ida = calls.open(a.call);
  const idb = calls.open(b.call);
  t.not(ida, idb, 'each call has its own id');
  t.same(refs, ['unref', 'ref', 'ref']);
  calls.deliver({ type: 'progress', id: ida, current: 1, total: 2 });
  calls.deliver({ type: 'text', id: ida, text: 'hi' });
  calls.deliver({ type: 'done', id: ida, result: { hasChatTemplate: true } });
  calls.deliver({ type: 'text', id: ida, text: 'late' });
  t.same(a.got, ['progress 1/2', 'text hi', 'done {"hasChatTemplate":true}']);
  t.equal(refs.at(-1), 'ref', 'one call is still in flight');
  calls.deliver({ type: 'failed', id: idb, message: 'no template', code: 'CHAT_TEMPLATE_MISSING' });
  calls.deliver({ type: 'failed', id: 99, message: 'nobody' });
  t.same(b.got, ['failed no template CHAT_TEMPLATE_MISSING']);
  t.equal(refs.at(-1), 'unref', 'none in flight: the process may exit');
  const c = record();
  const idc = calls.open(c.call);
  calls.forget(idc);
  calls.deliver({ type: 'done', id: idc });
  t.same(c.got, [], 'a forgotten call gets no answer');
  t.equal(refs.at(-1), 'unref');
});

t.test('a dead worker fails every call with the first reason it died', async (t) => {
  const { calls, record } = setup();
  const a = record();
  calls.open(a.call);
  t.equal(calls.dead, undefined);
  calls.failAll(new Error('crashed'));
  calls.failAll(new Error('exited'));
  t.same(a.got, ['failed crashed -']);
  t.equal(calls.dead?.message, 'crashed');
  const b = record();
  calls.open(b.call);
  calls.failAll(new Error('exited'));
  t.same(b.got, ['failed crashed -'], 'a later call fails with the same reason');
});

t.test('generation flags: raised once, then forgotten; an untracked one stays down', async (t) => {
  const { calls } = setup();
  const running = new Int32Array(new SharedArrayBuffer(4));
  const finished = new Int32Array(new SharedArrayBuffer(4));
  calls.track(running);
  calls.track(finished);
  calls.untrack(finished);
  calls.raiseFlags();
  t.same([running[0], finished[0]], [1, 0]);
  running[0] = 0;
  calls.raiseFlags();
  t.equal(running[0], 0, 'raised flags are no longer tracked');
});
