// The client's SSE reader (the protocol's parser over a body): any chunking, any line ending, and a cut-off event reported.
import t from 'tap';
import { readSse } from '../src/client/sse-reader.js';

/** A body that hands out `chunks` one read at a time. */
function bodyOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

async function read(chunks: Uint8Array[]) {
  const seen: string[] = [];
  await readSse(bodyOf(chunks), {
    onEvent: (m) => seen.push(`event ${m.event ?? '-'} id ${m.id ?? '-'} data ${m.data}`),
    onComment: (text) => seen.push(`comment ${text}`),
    onRetry: (ms) => seen.push(`retry ${ms}`),
    onError: ({ message, line }) => seen.push(`error ${line === '' ? message : line}`),
  });
  return seen;
}

const stream =
  ': hi\r\nevent: progress\r\nid: 7\r\nretry: 500\r\ndata: {"a":"é€"}\r\n\r\ndata: x\ndata: y\n\nbogus: 1\n\n';
const bytes = new TextEncoder().encode(stream);

t.test('a whole stream', async (t) => {
  t.same(await read([bytes]), [
    'comment hi',
    'retry 500',
    'event progress id 7 data {"a":"é€"}',
    'event - id - data x\ny',
    'error bogus: 1',
  ]);
});

t.test(
  'the same stream in every two-way split (inside CRLF and inside multi-byte characters) reads the same',
  async (t) => {
    const whole = await read([bytes]);
    for (let i = 1; i < bytes.length; i++) {
      const got = await read([bytes.slice(0, i), bytes.slice(i)]);
      if (JSON.stringify(got) !== JSON.stringify(whole)) t.fail(`split at ${i}: ${JSON.stringify(got)}`);
    }
    t.pass('every split');
  },
);

t.test('an event cut off before its blank line is discarded and reported; a trailing comment is not', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const cut = await read([enc('data: {"status":"ready"}\n')]);
  t.equal(cut.length, 1);
  t.match(cut[0], /^error data: \{"status":"ready"\}/);
  t.same(await read([enc('data: a\n\n: bye\n')]), ['event - id - data a', 'comment bye']);
});

t.test('reading stops once the caller is settled, and the body is cancelled', async (t) => {
  let cancelled = false;
  const enc = (s: string) => new TextEncoder().encode(s);
  const chunks = [enc('data: a\n\n'), enc('data: b\n\n')];
  const body = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(chunks.shift() ?? enc(': more\n')),
    cancel: () => void (cancelled = true),
  });
  const seen: string[] = [];
  await readSse(body, { onEvent: (e) => seen.push(e.data) }, () => seen.length > 0);
  t.same(seen, ['a']);
  t.ok(cancelled, 'the body was cancelled');
});
