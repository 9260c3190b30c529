import t from 'tap';
import {
  DEFAULT_ERROR_MESSAGE,
  KNOWN_STAGES,
  WIRE_STAGES,
  isTerminal,
  parseLoadEvent,
  serializeLoadEvent,
  type LoadEvent,
} from '../src/protocol/events.js';

const M = 'HuggingFaceTB/SmolLM2-135M-Instruct@main';

// Each expected string was produced by CPython's `json.dumps(payload)` on the same payload.
const upstreamFrames: [LoadEvent, string][] = [
  [{ status: 'loading', model: M, stage: 'processor' }, `{"status": "loading", "model": "${M}", "stage": "processor"}`],
  [{ status: 'loading', model: M, stage: 'config' }, `{"status": "loading", "model": "${M}", "stage": "config"}`],
  [
    { status: 'loading', model: M, stage: 'download', progress: { current: 67020052, total: 269060552 } },
    `{"status": "loading", "model": "${M}", "stage": "download", "progress": {"current": 67020052, "total": 269060552}}`,
  ],
  [
    { status: 'loading', model: M, stage: 'weights', progress: { current: 136, total: 272 } },
    `{"status": "loading", "model": "${M}", "stage": "weights", "progress": {"current": 136, "total": 272}}`,
  ],
  [
    { status: 'loading', model: 'org/m@main', stage: 'download', progress: { current: 0, total: null } },
    '{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": 0, "total": null}}',
  ],
  [{ status: 'ready', model: M, cached: false }, `{"status": "ready", "model": "${M}", "cached": false}`],
  [{ status: 'ready', model: M, cached: true }, `{"status": "ready", "model": "${M}", "cached": true}`],
  [
    { status: 'error', model: 'org/m@main', message: 'Repository not found' },
    '{"status": "error", "model": "org/m@main", "message": "Repository not found"}',
  ],
  [
    { status: 'error', model: 'org/m@main', message: '模型 🚫 "q" \\ \n\t\u0000\u007f\u2028 é' },
    '{"status": "error", "model": "org/m@main", "message": ' +
      '"\\u6a21\\u578b \\ud83d\\udeab \\"q\\" \\\\ \\n\\t\\u0000\\u007f\\u2028 \\u00e9"}',
  ],
];

t.test('serializeLoadEvent writes what upstream json.dumps writes', async (t) => {
  for (const [event, expected] of upstreamFrames) {
    t.equal(serializeLoadEvent(event), expected, expected.slice(0, 70));
  }
});

t.test("modeldeck's additions, in upstream's format: queued with its queue, ready with size and dtype", async (t) => {
  const cases: [LoadEvent, string][] = [
    [
      {
        status: 'loading',
        model: 'org/x@main',
        stage: 'queued',
        queue: { position: 2, reason: 'load_slot', running: 2 },
      },
      '{"status": "loading", "model": "org/x@main", "stage": "queued", ' +
        '"queue": {"position": 2, "reason": "load_slot", "running": 2}}',
    ],
    [
      {
        status: 'loading',
        model: 'org/x@main',
        stage: 'queued',
        queue: { position: 1, reason: 'model_slot', held_by: ['org/a@main', 'org/\u00e9@v1'] },
      },
      '{"status": "loading", "model": "org/x@main", "stage": "queued", ' +
        '"queue": {"position": 1, "reason": "model_slot", "held_by": ["org/a@main", "org/\\u00e9@v1"]}}',
    ],
    [
      { status: 'ready', model: 'org/x@main', cached: false, size_bytes: 1190000, dtype: 'q8' },
      '{"status": "ready", "model": "org/x@main", "cached": false, "size_bytes": 1190000, "dtype": "q8"}',
    ],
    [
      { status: 'ready', model: 'org/x@main', cached: true, size_bytes: null },
      '{"status": "ready", "model": "org/x@main", "cached": true, "size_bytes": null}',
    ],
  ];
  for (const [event, expected] of cases) {
    t.equal(serializeLoadEvent(event), expected, expected.slice(0, 90));
    const back = parseLoadEvent(expected);
    t.ok(back.ok && t.strictSame(back.event, event), 'reads back');
  }
  t.throws(
    () => serializeLoadEvent({ status: 'ready', model: 'm', cached: false, size_bytes: Number.NaN }),
    /size_bytes must be a finite number/,
  );
});

t.test('a queue or a size that does not read is left out; the event still reads', async (t) => {
  const cases: [string, LoadEvent][] = [
    [
      '{"status": "loading", "model": "m", "stage": "queued", "queue": {"position": 0, "reason": "load_slot"}}',
      { status: 'loading', model: 'm', stage: 'queued' },
    ],
    [
      '{"status": "loading", "model": "m", "stage": "queued", "queue": {"position": 3}}',
      { status: 'loading', model: 'm', stage: 'queued' },
    ],
    [
      '{"status": "loading", "model": "m", "stage": "queued", "queue": "third"}',
      { status: 'loading', model: 'm', stage: 'queued' },
    ],
    [
      '{"status": "loading", "model": "m", "stage": "queued", ' +
        '"queue": {"position": 3, "reason": "download_slot", "running": "2", "held_by": [1]}}',
      { status: 'loading', model: 'm', stage: 'queued', queue: { position: 3, reason: 'download_slot' } },
    ],
    [
      '{"status": "ready", "model": "m", "cached": false, "size_bytes": "1 MB", "dtype": 8}',
      { status: 'ready', model: 'm', cached: false },
    ],
  ];
  for (const [data, expected] of cases) {
    const parsed = parseLoadEvent(data);
    t.ok(parsed.ok && t.strictSame(parsed.event, expected), data);
  }
});

t.test('serializeLoadEvent puts code last and escapes any string to valid ASCII JSON', async (t) => {
  const withCode: LoadEvent = { status: 'error', model: 'a/b@main', message: 'not found', code: 'MODEL_NOT_FOUND' };
  t.equal(
    serializeLoadEvent(withCode),
    '{"status": "error", "model": "a/b@main", "message": "not found", "code": "MODEL_NOT_FOUND"}',
  );
  const nasty = '\ud800 lone surrogate, "}, "status": "ready" \r\n\u0001\u009f\ufeff';
  const text = serializeLoadEvent({ status: 'loading', model: nasty, stage: nasty });
  t.match(text, /^[\x20-\x7e]*$/, 'pure printable ASCII');
  t.strictSame(JSON.parse(text), { status: 'loading', model: nasty, stage: nasty });
  t.equal(
    serializeLoadEvent({ status: 'loading', model: 'm', stage: 's', progress: { current: 1.5, total: 3 } }),
    '{"status": "loading", "model": "m", "stage": "s", "progress": {"current": 1.5, "total": 3}}',
  );
});

t.test('serializeLoadEvent refuses figures that are not JSON numbers and unknown statuses', async (t) => {
  const bad: [number, number | null][] = [
    [Number.NaN, 1],
    [Number.POSITIVE_INFINITY, 1],
    [1, Number.NaN],
    [1, Number.NEGATIVE_INFINITY],
    ['3' as unknown as number, 4],
  ];
  for (const [current, total] of bad) {
    t.throws(
      () => serializeLoadEvent({ status: 'loading', model: 'm', stage: 'download', progress: { current, total } }),
      TypeError,
      `${String(current)}/${String(total)}`,
    );
  }
  t.throws(() => serializeLoadEvent({ status: 'done', model: 'm' } as unknown as LoadEvent), {
    name: 'TypeError',
    message: /unknown load event status "done"/,
  });
});

t.test('every event kind survives serialize then parse', async (t) => {
  const events: LoadEvent[] = [
    ...upstreamFrames.map(([event]) => event),
    { status: 'error', model: 'a/b@main', message: 'x', code: 'HUB_UNREACHABLE' },
    { status: 'loading', model: 'a/b@main', stage: 'compile', progress: { current: 3, total: 3 } },
  ];
  for (const event of events) {
    const parsed = parseLoadEvent(serializeLoadEvent(event));
    t.ok(parsed.ok);
    if (parsed.ok) t.strictSame(parsed.event, event, `${event.status} ${JSON.stringify(event).slice(0, 60)}`);
  }
});

t.test('parseLoadEvent tolerates what other servers send', async (t) => {
  const cases: [name: string, data: string, expected: LoadEvent][] = [
    [
      'compact JSON',
      '{"status":"loading","model":"a/b@main","stage":"weights","progress":{"current":1,"total":2}}',
      { status: 'loading', model: 'a/b@main', stage: 'weights', progress: { current: 1, total: 2 } },
    ],
    [
      'extra fields, everywhere',
      '{"status": "loading", "model": "a/b@main", "stage": "download", "eta": 3, ' +
        '"progress": {"current": 5, "total": 10, "unit": "B"}}',
      { status: 'loading', model: 'a/b@main', stage: 'download', progress: { current: 5, total: 10 } },
    ],
    [
      'unknown stage kept by name',
      '{"status": "loading", "model": "a/b@main", "stage": "quantize"}',
      { status: 'loading', model: 'a/b@main', stage: 'quantize' },
    ],
    [
      'total null',
      '{"status": "loading", "model": "a/b@main", "stage": "download", "progress": {"current": 9, "total": null}}',
      { status: 'loading', model: 'a/b@main', stage: 'download', progress: { current: 9, total: null } },
    ],
    [
      'total missing',
      '{"status": "loading", "model": "a/b@main", "stage": "download", "progress": {"current": 9}}',
      { status: 'loading', model: 'a/b@main', stage: 'download', progress: { current: 9, total: null } },
    ],
    [
      'progress null',
      '{"status": "loading", "model": "a/b@main", "stage": "weights", "progress": null}',
      { status: 'loading', model: 'a/b@main', stage: 'weights' },
    ],
    [
      'key order and whitespace do not matter',
      '\n {"cached" :true ,\t"model":"a/b@main","status":"ready"} \n',
      { status: 'ready', model: 'a/b@main', cached: true },
    ],
    [
      'ready without cached',
      '{"status": "ready", "model": "a/b@main"}',
      { status: 'ready', model: 'a/b@main', cached: false },
    ],
    [
      'error without message',
      '{"status": "error", "model": "a/b@main"}',
      { status: 'error', model: 'a/b@main', message: DEFAULT_ERROR_MESSAGE },
    ],
    [
      'error with an empty message (str() of a bare exception)',
      '{"status": "error", "model": "a/b@main", "message": ""}',
      { status: 'error', model: 'a/b@main', message: DEFAULT_ERROR_MESSAGE },
    ],
    [
      'error with a non-string message and code',
      '{"status": "error", "model": "a/b@main", "message": {"detail": "x"}, "code": 404}',
      { status: 'error', model: 'a/b@main', message: DEFAULT_ERROR_MESSAGE },
    ],
    [
      'error with code and non-ASCII escapes',
      '{"status": "error", "model": "a/b@main", "message": "\\u6a21\\u578b \\ud83d\\udeab", "code": "X"}',
      { status: 'error', model: 'a/b@main', message: '模型 🚫', code: 'X' },
    ],
  ];
  for (const [name, data, expected] of cases) {
    const parsed = parseLoadEvent(data);
    t.ok(parsed.ok, name);
    if (parsed.ok) t.strictSame(parsed.event, expected, name);
  }
});

t.test('parseLoadEvent keeps the raw object, unknown fields included', async (t) => {
  const parsed = parseLoadEvent('{"status": "ready", "model": "a/b@main", "cached": false, "device": "cpu"}');
  t.ok(parsed.ok);
  if (parsed.ok) {
    t.equal(parsed.raw['device'], 'cpu');
    t.notOk('device' in parsed.event, 'the event itself has only known fields');
  }
});

t.test('parseLoadEvent refuses what it cannot read, without throwing', async (t) => {
  const cases: [data: string, error: RegExp][] = [
    ['', /not JSON/],
    ['{"status": "ready"', /not JSON/],
    ['data: {}', /not JSON/],
    ['[]', /not a JSON object/],
    ['null', /not a JSON object/],
    ['"ready"', /not a JSON object/],
    ['42', /not a JSON object/],
    ['{"model": "a/b@main"}', /no "status"/],
    ['{"status": 5, "model": "a/b@main"}', /unknown "status": 5/],
    ['{"status": "done", "model": "a/b@main"}', /unknown "status": "done"/],
    ['{"status": "ready"}', /"model" is missing or not a string/],
    ['{"status": "ready", "model": 7}', /"model" is missing or not a string/],
    ['{"status": "loading", "model": "a/b@main"}', /"stage" is missing or not a string/],
    ['{"status": "loading", "model": "a/b@main", "stage": 2}', /"stage" is missing or not a string/],
    ['{"status": "loading", "model": "m", "stage": "weights", "progress": [1, 2]}', /"progress" is not an object/],
    ['{"status": "loading", "model": "m", "stage": "weights", "progress": 50}', /"progress" is not an object/],
    ['{"status": "loading", "model": "m", "stage": "weights", "progress": {"total": 2}}', /"progress.current"/],
    [
      '{"status": "loading", "model": "m", "stage": "w", "progress": {"current": "1", "total": 2}}',
      /"progress.current"/,
    ],
    [
      '{"status": "loading", "model": "m", "stage": "w", "progress": {"current": 1e999, "total": 2}}',
      /"progress.current"/,
    ],
    ['{"status": "loading", "model": "m", "stage": "w", "progress": {"current": 1, "total": "2"}}', /"progress.total"/],
    [
      '{"status": "loading", "model": "m", "stage": "w", "progress": {"current": 1, "total": -1e999}}',
      /"progress.total"/,
    ],
    ['{"status": "ready", "model": "m", "cached": "yes"}', /"cached" is not a boolean/],
  ];
  for (const [data, error] of cases) {
    const parsed = parseLoadEvent(data);
    t.equal(parsed.ok, false, data);
    if (!parsed.ok) t.match(parsed.error, error, data);
  }
  const long = parseLoadEvent(`[${'1,'.repeat(200)}1]`);
  t.ok(!long.ok && long.error.length < 150, 'a long refused payload is not echoed whole');
});

t.test('isTerminal; the stages in order, queued first', async (t) => {
  t.equal(isTerminal({ status: 'loading', model: 'm', stage: 'config' }), false);
  t.equal(isTerminal({ status: 'loading', model: 'm', stage: 'queued', queue: { position: 1, reason: 'x' } }), false);
  t.equal(isTerminal({ status: 'ready', model: 'm', cached: true }), true);
  t.equal(isTerminal({ status: 'error', model: 'm', message: 'x' }), true);
  t.strictSame(KNOWN_STAGES, ['processor', 'config', 'download', 'weights'], "the loader's stages, as upstream");
  t.strictSame(WIRE_STAGES, ['queued', 'processor', 'config', 'download', 'weights'], 'what a modeldeck server sends');
});
