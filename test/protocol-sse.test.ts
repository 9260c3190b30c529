import t from 'tap';
import {
  createSseParser,
  encodeSseComment,
  encodeSseEvent,
  type SseEvent,
  type SseEventInit,
  type SseParseError,
} from '../src/protocol/sse.js';
import { createSseLineSplitter } from '../src/protocol/sse-lines.js';
import { parseLoadEvent, serializeLoadEvent, type LoadEvent } from '../src/protocol/events.js';

/** Everything a parser reported, in order, as one comparable list. */
type Seen =
  | { kind: 'event'; event: SseEvent }
  | { kind: 'comment'; text: string }
  | { kind: 'retry'; ms: number }
  | { kind: 'error'; error: SseParseError };

function recorder() {
  const records: Seen[] = [];
  const parser = createSseParser({
    onEvent: (event) => records.push({ kind: 'event', event }),
    onComment: (text) => records.push({ kind: 'comment', text }),
    onRetry: (ms) => records.push({ kind: 'retry', ms }),
    onError: (error) => records.push({ kind: 'error', error }),
  });
  return { records, parser };
}

function parseWhole(input: string | Uint8Array): Seen[] {
  const { records, parser } = recorder();
  parser.feed(input);
  parser.end();
  return records;
}

function events(records: Seen[]): SseEvent[] {
  return records.flatMap((record) => (record.kind === 'event' ? [record.event] : []));
}

// Deterministic pseudo-random numbers (mulberry32), so a failing split can be reproduced from its seed.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function splitAt<T extends string | Uint8Array>(input: T, cuts: number[]): T[] {
  const pieces: T[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    pieces.push(input.slice(from, cut) as T);
    from = cut;
  }
  pieces.push(input.slice(from) as T);
  return pieces;
}

const model = 'HuggingFaceTB/SmolLM2-135M-Instruct@main';
const message = '模型加载失败 🚫🤗 — 下载中断 (ünïcödé, Ω)';

// A stream in the style of upstream and of other servers, with every variation a modeldeck client must tolerate.
const recorded =
  '\ufeff' +
  ': hello from a proxy\r\n' +
  'retry: 3000\r\n' +
  '\r\n' +
  'event: load\r\n' +
  'id: 1\r\n' +
  `data: {"status": "loading", "model": "${model}", "stage": "processor"}\r\n` +
  '\r\n' +
  `data:{"status":"loading","model":"${model}","stage":"config","server":"other"}\n\n` +
  `data: {"status": "loading", "model": "${model}", "stage": "download", "progress": {"current": 10, "total": null}}\r\n\r\n` +
  ':keep-alive\r\n\r\n' +
  'x-custom: ignored\n' +
  'retry: soon\n' +
  `data: {"status": "loading", "model": "${model}", "stage": "quantize", "eta": 2}\r\r` +
  'event:\n' +
  `data: {"status": "loading", "model": "${model}",\n` +
  `data:  "stage": "weights", "progress": {"current": 136, "total": 272}}\n\n` +
  'id: 2\r\n' +
  'event: only-metadata\r\n' +
  '\r\n' +
  `data: {"status": "error", "model": "${model}", "message": "${message}", "code": "LOAD_FAILED"}\r\n` +
  '\r\n' +
  ': bye\n';

const expectedRecords: Seen[] = [
  { kind: 'comment', text: 'hello from a proxy' },
  { kind: 'retry', ms: 3000 },
  {
    kind: 'event',
    event: { data: `{"status": "loading", "model": "${model}", "stage": "processor"}`, event: 'load', id: '1' },
  },
  { kind: 'event', event: { data: `{"status":"loading","model":"${model}","stage":"config","server":"other"}` } },
  {
    kind: 'event',
    event: {
      data: `{"status": "loading", "model": "${model}", "stage": "download", "progress": {"current": 10, "total": null}}`,
    },
  },
  { kind: 'comment', text: 'keep-alive' },
  {
    kind: 'error',
    error: { type: 'unknown-field', message: 'ignored unknown field "x-custom"', line: 'x-custom: ignored' },
  },
  {
    kind: 'error',
    error: {
      type: 'invalid-retry',
      message: 'ignored a retry value that is not all ASCII digits: "soon"',
      line: 'retry: soon',
    },
  },
  { kind: 'event', event: { data: `{"status": "loading", "model": "${model}", "stage": "quantize", "eta": 2}` } },
  {
    kind: 'event',
    event: {
      data: `{"status": "loading", "model": "${model}",\n "stage": "weights", "progress": {"current": 136, "total": 272}}`,
    },
  },
  {
    kind: 'event',
    event: { data: `{"status": "error", "model": "${model}", "message": "${message}", "code": "LOAD_FAILED"}` },
  },
  { kind: 'comment', text: 'bye' },
];

const expectedLoadEvents: LoadEvent[] = [
  { status: 'loading', model, stage: 'processor' },
  { status: 'loading', model, stage: 'config' },
  { status: 'loading', model, stage: 'download', progress: { current: 10, total: null } },
  { status: 'loading', model, stage: 'quantize' },
  { status: 'loading', model, stage: 'weights', progress: { current: 136, total: 272 } },
  { status: 'error', model, message, code: 'LOAD_FAILED' },
];

const recordedBytes = new TextEncoder().encode(recorded);

t.test('the recorded stream parses to the expected callbacks and load events', async (t) => {
  const records = parseWhole(recorded);
  t.strictSame(records, expectedRecords);
  const loadEvents = events(records).map((event) => parseLoadEvent(event.data));
  t.strictSame(
    loadEvents.map((result) => (result.ok ? result.event : result.error)),
    expectedLoadEvents,
  );
  t.strictSame(parseWhole(recordedBytes), expectedRecords, 'the same from bytes');
});

t.test('every chunk size gives the same result, as strings and as bytes', async (t) => {
  let mismatches = 0;
  for (let size = 1; size <= recorded.length; size++) {
    const { records, parser } = recorder();
    for (let at = 0; at < recorded.length; at += size) parser.feed(recorded.slice(at, at + size));
    parser.end();
    if (!t.strictSame(records, expectedRecords, `string chunks of ${size}`)) mismatches++;
    if (mismatches > 3) break;
  }
  for (let size = 1; size <= recordedBytes.length; size++) {
    const { records, parser } = recorder();
    for (let at = 0; at < recordedBytes.length; at += size) parser.feed(recordedBytes.subarray(at, at + size));
    parser.end();
    if (!t.strictSame(records, expectedRecords, `byte chunks of ${size}`)) mismatches++;
    if (mismatches > 3) break;
  }
});

t.test('random splits, including empty chunks, give the same result', async (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed);
    const useBytes = seed % 2 === 0;
    const input = useBytes ? recordedBytes : recorded;
    const cuts = Array.from({ length: 1 + Math.floor(next() * 40) }, () => Math.floor(next() * (input.length + 1)));
    const { records, parser } = recorder();
    for (const piece of splitAt<string | Uint8Array>(input, cuts)) parser.feed(piece);
    parser.end();
    if (!t.strictSame(records, expectedRecords, `seed ${seed} (${useBytes ? 'bytes' : 'string'})`)) break;
  }
});

t.test('a CRLF split across chunks is one line break, not an extra blank line', async (t) => {
  // If the LF after a chunk-ending CR were read as a blank line, "a" and "b" would be two events.
  const { records, parser } = recorder();
  parser.feed('data: a\r');
  parser.feed('\ndata: b\r');
  parser.feed('');
  parser.feed('\n\r');
  parser.feed('\n');
  parser.end();
  t.strictSame(events(records), [{ data: 'a\nb' }]);

  // A CR that is not followed by LF is a line break of its own, and dispatches without waiting for more input.
  const second = recorder();
  second.parser.feed('data: x\r\r');
  t.strictSame(events(second.records), [{ data: 'x' }], 'dispatched before the next chunk arrives');
  second.parser.feed('data: y\r');
  second.parser.feed('\r');
  t.strictSame(events(second.records), [{ data: 'x' }, { data: 'y' }]);
});

t.test('multi-byte characters split across byte chunks survive', async (t) => {
  const text = 'data: 🚫中é\n\n';
  const bytes = new TextEncoder().encode(text);
  const emojiStart = bytes.indexOf(0xf0);
  for (let cut = emojiStart + 1; cut < emojiStart + 4; cut++) {
    const { records, parser } = recorder();
    parser.feed(bytes.subarray(0, cut));
    parser.feed(bytes.subarray(cut));
    parser.end();
    t.strictSame(events(records), [{ data: '🚫中é' }], `cut at byte ${cut}`);
  }
  const { records, parser } = recorder();
  for (const byte of bytes) parser.feed(Uint8Array.of(byte));
  parser.end();
  t.strictSame(events(records), [{ data: '🚫中é' }], 'one byte at a time');
});

t.test('invalid UTF-8 becomes U+FFFD, and a character cut off by the end of the stream is reported', async (t) => {
  t.strictSame(events(parseWhole(Uint8Array.of(0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a))), [{ data: '\ufffd' }]);
  const { records, parser } = recorder();
  const bytes = new TextEncoder().encode('data: ok\n\ndata: 🚫');
  parser.feed(bytes.subarray(0, bytes.length - 2));
  parser.end();
  t.strictSame(records, [
    { kind: 'event', event: { data: 'ok' } },
    {
      kind: 'error',
      error: {
        type: 'incomplete-event',
        message: 'the stream ended before the blank line that ends an event; discarded it',
        line: 'data: \ufffd',
      },
    },
  ]);
});

t.test('a BOM is dropped only at the very start of the stream', async (t) => {
  const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
  const body = new TextEncoder().encode('data: x\n\n');
  for (let cut = 0; cut <= 3; cut++) {
    const { records, parser } = recorder();
    parser.feed(bom.subarray(0, cut));
    parser.feed(Uint8Array.of(...bom.subarray(cut), ...body));
    parser.end();
    t.strictSame(records, [{ kind: 'event', event: { data: 'x' } }], `BOM split at ${cut}`);
  }
  t.strictSame(events(parseWhole('\ufeffdata: x\n\n')), [{ data: 'x' }], 'string BOM');
  t.strictSame(events(parseWhole('data: \ufeffx\n\n')), [{ data: '\ufeffx' }], 'a BOM inside data is data');
  const twice = parseWhole('\ufeff\ufeffdata: x\n\n');
  t.strictSame(events(twice), [], 'a second BOM makes an unknown field');
  t.match(twice, [{ kind: 'error', error: { type: 'unknown-field', line: '\ufeffdata: x' } }]);
  const twiceBytes = parseWhole(new TextEncoder().encode('\ufeff\ufeffdata: x\n\n'));
  t.strictSame(twiceBytes, twice, 'bytes and strings treat a second BOM alike');
});

t.test('field parsing follows the WHATWG rules', async (t) => {
  const cases: [name: string, input: string, expected: Seen[]][] = [
    [
      'a line without a colon is a field with an empty value',
      'data\ndata\n\n',
      [{ kind: 'event', event: { data: '\n' } }],
    ],
    ['only one leading space is stripped', 'data:  two\n\n', [{ kind: 'event', event: { data: ' two' } }]],
    ['a tab is not stripped', 'data:\tx\n\n', [{ kind: 'event', event: { data: '\tx' } }]],
    ['colons after the first are value', 'data: a:b: c\n\n', [{ kind: 'event', event: { data: 'a:b: c' } }]],
    ['an empty data line dispatches an empty event', 'data:\n\n', [{ kind: 'event', event: { data: '' } }]],
    ['an event with no data line is not dispatched', 'event: x\nid: 3\n\n', []],
    ['blank lines alone dispatch nothing', '\n\n\r\n\r\r', []],
    ['an empty event type means the default', 'event:\ndata: x\n\n', [{ kind: 'event', event: { data: 'x' } }]],
    [
      'the last event type wins',
      'event: a\nevent: b\ndata: x\n\n',
      [{ kind: 'event', event: { data: 'x', event: 'b' } }],
    ],
    [
      'an empty id is kept (it resets the last event id)',
      'id:\ndata: x\n\n',
      [{ kind: 'event', event: { data: 'x', id: '' } }],
    ],
    [
      'event type and id do not carry over to the next event',
      'event: a\nid: 1\ndata: x\n\ndata: y\n\n',
      [
        { kind: 'event', event: { data: 'x', event: 'a', id: '1' } },
        { kind: 'event', event: { data: 'y' } },
      ],
    ],
    [
      'an id containing NUL is ignored and reported',
      'id: 1\nid: a\u0000b\ndata: x\n\n',
      [
        { kind: 'error', error: { type: 'invalid-id', message: 'ignored an id containing NUL', line: 'id: a\u0000b' } },
        { kind: 'event', event: { data: 'x', id: '1' } },
      ],
    ],
    [
      'retry takes only ASCII digits',
      'retry: 0\nretry:1500\n',
      [
        { kind: 'retry', ms: 0 },
        { kind: 'retry', ms: 1500 },
      ],
    ],
    [
      'field names are case-sensitive',
      'Data: x\n\n',
      [{ kind: 'error', error: { type: 'unknown-field', message: 'ignored unknown field "Data"', line: 'Data: x' } }],
    ],
    [
      'a long unknown field name is clipped in the message',
      `${'f'.repeat(60)}: v\n`,
      [
        {
          kind: 'error',
          error: {
            type: 'unknown-field',
            message: `ignored unknown field "${'f'.repeat(40)}…"`,
            line: `${'f'.repeat(60)}: v`,
          },
        },
      ],
    ],
    [
      'comments lose one leading space only',
      ':  two\n:\n: \n',
      [
        { kind: 'comment', text: ' two' },
        { kind: 'comment', text: '' },
        { kind: 'comment', text: '' },
      ],
    ],
    [
      'a comment does not interrupt an event',
      'data: a\n: note\ndata: b\n\n',
      [
        { kind: 'comment', text: 'note' },
        { kind: 'event', event: { data: 'a\nb' } },
      ],
    ],
  ];
  for (const [name, input, expected] of cases) t.strictSame(parseWhole(input), expected, name);
});

t.test('end() discards an event that never got its blank line, and reports it', async (t) => {
  const incomplete = (line: string): Seen => ({
    kind: 'error',
    error: {
      type: 'incomplete-event',
      message: 'the stream ended before the blank line that ends an event; discarded it',
      line,
    },
  });
  t.strictSame(parseWhole('data: {"status": "ready"}'), [incomplete('data: {"status": "ready"}')], 'no line break');
  t.strictSame(parseWhole('data: {"status": "ready"}\n'), [incomplete('')], 'one line break');
  t.strictSame(parseWhole('data: {"status": "ready"}\r'), [incomplete('')], 'one CR');
  t.strictSame(parseWhole('event: x\n'), [], 'metadata alone is not worth reporting');
  t.strictSame(parseWhole('data: a\n\n'), [{ kind: 'event', event: { data: 'a' } }], 'a complete stream');

  const { records, parser } = recorder();
  parser.feed('data: lost');
  parser.end();
  parser.feed('\ufeffdata: next stream\n\n');
  t.strictSame(events(records), [{ data: 'next stream' }], 'the parser is reusable after end(), BOM check included');
});

t.test('reset() forgets a partial line, a partial event, a pending CR and decoder state', async (t) => {
  const { records, parser } = recorder();
  parser.feed('data: a\ndata: par');
  parser.reset();
  parser.feed('data: b\n\n');
  parser.feed('data: c\r');
  parser.reset();
  parser.feed('\ndata: d\n\n');
  parser.feed(Uint8Array.of(0xf0, 0x9f));
  parser.reset();
  parser.feed(new TextEncoder().encode('data: e\n\n'));
  parser.end();
  t.strictSame(records, [
    { kind: 'event', event: { data: 'b' } },
    { kind: 'event', event: { data: 'd' } },
    { kind: 'event', event: { data: 'e' } },
  ]);
});

t.test('a callback that resets the parser stops the rest of the chunk', async (t) => {
  const seen: string[] = [];
  const parser = createSseParser({
    onEvent(event) {
      seen.push(event.data);
      if (event.data === 'stop') parser.reset();
    },
  });
  parser.feed('data: go\n\ndata: stop\n\ndata: ignored\n\n');
  parser.feed('data: after\n\n');
  t.strictSame(seen, ['go', 'stop', 'after']);
});

t.test('optional callbacks may be left out', async (t) => {
  const seen: SseEvent[] = [];
  const parser = createSseParser({ onEvent: (event) => seen.push(event) });
  parser.feed(': c\nretry: 1\nretry: x\nfoo: bar\nid: \u0000\ndata: x\n\ndata: cut');
  parser.end();
  t.strictSame(seen, [{ data: 'x' }]);
});

t.test('a string after bytes first flushes the decoder', async (t) => {
  const { records, parser } = recorder();
  parser.feed(new TextEncoder().encode('data: a'));
  parser.feed(Uint8Array.of(0xe4));
  parser.feed('b\n\n');
  parser.end();
  t.strictSame(events(records), [{ data: 'a\ufffdb' }]);
});

t.test('a long line fed in tiny pieces is assembled once', async (t) => {
  const payload = 'x'.repeat(200_000);
  const { records, parser } = recorder();
  parser.feed('data: ');
  for (let at = 0; at < payload.length; at += 7) parser.feed(payload.slice(at, at + 7));
  parser.feed('\n\n');
  parser.end();
  t.equal(events(records)[0]?.data.length, payload.length);
});

t.test('encodeSseEvent: table', async (t) => {
  const cases: [SseEventInit, string][] = [
    [{ data: 'x' }, 'data: x\n\n'],
    [{ data: '' }, 'data: \n\n'],
    [{ data: '{"status": "ready"}' }, 'data: {"status": "ready"}\n\n'],
    [{ data: 'a\nb' }, 'data: a\ndata: b\n\n'],
    [{ data: 'a\r\nb\rc\n' }, 'data: a\ndata: b\ndata: c\ndata: \n\n'],
    [{ data: '\n' }, 'data: \ndata: \n\n'],
    [{ data: 'x', event: 'load' }, 'event: load\ndata: x\n\n'],
    [{ data: 'x', id: '42' }, 'id: 42\ndata: x\n\n'],
    [{ data: 'x', retry: 0 }, 'retry: 0\ndata: x\n\n'],
    [{ data: 'x', event: 'e', id: '', retry: 2500 }, 'event: e\nid: \nretry: 2500\ndata: x\n\n'],
    [{ data: ' lead', event: ' spaced' }, 'event:  spaced\ndata:  lead\n\n'],
    [{ data: '中文 🚫' }, 'data: 中文 🚫\n\n'],
  ];
  for (const [init, expected] of cases) t.equal(encodeSseEvent(init), expected, JSON.stringify(init));
});

t.test('encode then parse gives back data (line breaks normalised to LF), event and id', async (t) => {
  const inits: SseEventInit[] = [
    { data: 'x' },
    { data: '' },
    { data: ' leading space' },
    { data: 'a\r\nb\rc\nd' },
    { data: '\n\n\n' },
    { data: ': not a comment\nevent: not an event' },
    { data: '模型 🚫', event: 'load', id: '7' },
    { data: 'x', event: ' spaced', id: ' also' },
    ...(['processor', 'download'] as const).map((stage) => ({
      data: serializeLoadEvent({ status: 'loading', model: 'a/b@main', stage, progress: { current: 1, total: null } }),
    })),
    { data: serializeLoadEvent({ status: 'ready', model: 'a/b@main', cached: true }) },
    { data: serializeLoadEvent({ status: 'error', model: 'a/b@main', message: 'boom\n\ndata: {"status": "ready"}' }) },
  ];
  const stream = inits.map(encodeSseEvent).join('') + encodeSseComment('keep-alive');
  const records = parseWhole(stream);
  t.strictSame(records, [
    ...inits.map((init): Seen => ({
      kind: 'event',
      event: {
        data: init.data.replace(/\r\n|\r/g, '\n'),
        ...(init.event === undefined ? {} : { event: init.event }),
        ...(init.id === undefined ? {} : { id: init.id }),
      },
    })),
    { kind: 'comment', text: 'keep-alive' },
  ]);
});

t.test(
  'injection: a single-line field with a line break or NUL throws; data with line breaks stays one event',
  async (t) => {
    for (const bad of ['a\nb', 'a\rb', 'a\r\nb', 'a\u0000b', '\n', 'x\n\ndata: {"status": "ready"}']) {
      t.throws(() => encodeSseEvent({ data: 'x', event: bad }), TypeError, `event ${JSON.stringify(bad)}`);
      t.throws(() => encodeSseEvent({ data: 'x', id: bad }), TypeError, `id ${JSON.stringify(bad)}`);
    }
    t.throws(() => encodeSseEvent({ data: 'x', event: 5 as unknown as string }), {
      name: 'TypeError',
      message: /event must be a string/,
    });
    t.throws(() => encodeSseEvent({ data: undefined as unknown as string }), {
      name: 'TypeError',
      message: /data must be a string/,
    });
    for (const retry of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      t.throws(() => encodeSseEvent({ data: 'x', retry }), RangeError, `retry ${retry}`);
    }

    const attack = 'x\n\nevent: evil\nid: 666\nretry: 1\ndata: {"status": "ready", "model": "m", "cached": true}\n\n';
    const records = parseWhole(encodeSseEvent({ data: attack }));
    t.strictSame(records, [{ kind: 'event', event: { data: attack } }]);
    t.equal(records.length, 1, 'exactly one event, no injected fields');
  },
);

t.test('encodeSseComment: every line is a comment, never a field', async (t) => {
  t.equal(encodeSseComment('keep-alive'), ': keep-alive\n\n');
  t.equal(encodeSseComment(''), ':\n\n');
  t.equal(encodeSseComment('a\r\nb\rc\n'), ': a\n: b\n: c\n:\n\n');
  const attack = 'ok\ndata: {"status": "ready", "model": "m", "cached": true}\n\nretry: 1';
  t.strictSame(parseWhole(encodeSseComment(attack)), [
    { kind: 'comment', text: 'ok' },
    { kind: 'comment', text: 'data: {"status": "ready", "model": "m", "cached": true}' },
    { kind: 'comment', text: '' },
    { kind: 'comment', text: 'retry: 1' },
  ]);
});

t.test('callbacks are called as methods of the object given', async (t) => {
  const sink = {
    seen: [] as string[],
    onEvent(event: SseEvent) {
      this.seen.push(`event ${event.data}`);
    },
    onComment(text: string) {
      this.seen.push(`comment ${text}`);
    },
    onRetry(ms: number) {
      this.seen.push(`retry ${ms}`);
    },
    onError(error: SseParseError) {
      this.seen.push(`error ${error.type}`);
    },
  };
  const parser = createSseParser(sink);
  parser.feed(': hi\nretry: 5\nnope: 1\ndata: x\n\n');
  t.strictSame(sink.seen, ['comment hi', 'retry 5', 'error unknown-field', 'event x']);
});

t.test('the parser hands on every line as sent, and its splitter ends a line at a CR that ends a chunk', async (t) => {
  const lines: string[] = [];
  const parser = createSseParser({
    onEvent: () => {},
    onLine: (l) => lines.push(`${l.field} ${JSON.stringify(l.text + l.ending)}`),
  });
  parser.feed('\ufeffdata: a\r');
  t.same(lines, ['data "data: a\\r"'], 'the line is out before the next chunk shows whether an LF follows');
  parser.feed('\n: c\r\n\n');
  parser.end();
  t.same(lines, ['data "data: a\\r"', 'comment ": c\\r\\n"', 'blank "\\n"'], 'the LF of the split CRLF is skipped');

  const split: string[] = [];
  const splitter = createSseLineSplitter((l) => split.push(l.text + l.ending), { trailingCr: 'end-line' });
  splitter.feed('a\rb\r');
  splitter.feed('\nc');
  t.same(split, ['a\r', 'b\r']);
  t.equal(splitter.unterminated(), 'c', 'what the stream has not ended yet');
  splitter.end();
  t.same(split, ['a\r', 'b\r', 'c'], 'end() hands out the cut-off line');
  t.equal(splitter.unterminated(), '');
});
