// The client's SSE reader (eventsource-parser underneath): any chunking, any line ending, and a cut-off event reported.
import t from 'tap';
import { createSseReader } from '../src/client/sse-reader.js';

function read(chunks: Uint8Array[]) {
  const seen: string[] = [];
  const reader = createSseReader({
    onEvent: (m) => seen.push(`event ${m.event ?? '-'} id ${m.id ?? '-'} data ${m.data}`),
    onComment: (text) => seen.push(`comment ${text}`),
    onRetry: (ms) => seen.push(`retry ${ms}`),
    onError: (message, line) => seen.push(`error ${line === '' ? message : line}`),
  });
  for (const chunk of chunks) reader.feed(chunk);
  reader.end();
  return seen;
}

const stream =
  ': hi\r\nevent: progress\r\nid: 7\r\nretry: 500\r\ndata: {"a":"é€"}\r\n\r\ndata: x\ndata: y\n\nbogus: 1\n\n';
const bytes = new TextEncoder().encode(stream);
const whole = read([bytes]);

t.same(whole, [
  'comment hi',
  'retry 500',
  'event progress id 7 data {"a":"é€"}',
  'event - id - data x\ny',
  'error bogus: 1',
]);

t.test(
  'the same stream in every two-way split (inside CRLF and inside multi-byte characters) reads the same',
  async (t) => {
    for (let i = 1; i < bytes.length; i++) {
      const got = read([bytes.slice(0, i), bytes.slice(i)]);
      if (JSON.stringify(got) !== JSON.stringify(whole)) t.fail(`split at ${i}: ${JSON.stringify(got)}`);
    }
    t.pass('every split');
  },
);

t.test('an event cut off before its blank line is discarded and reported; a trailing comment is not', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const cut = read([enc('data: {"status":"ready"}\n')]);
  t.equal(cut.length, 1);
  t.match(cut[0], /^error data: \{"status":"ready"\}/);
  t.same(read([enc('data: a\n\n: bye\n')]), ['event - id - data a', 'comment bye']);
});
