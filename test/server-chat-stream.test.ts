import t from 'tap';
import { createSseParser, type SseParseError } from '../src/protocol/sse.js';
import type { ChatMessage, GenerateResult, LoadedModel, ModelLoader } from '../src/server/loader-types.js';
import { startServer } from '../src/server/start.js';

// Streaming chat over a real server and real sockets, with a scripted model in place of transformers.js: the script
// decides when each piece of text is produced, so the test can tell "sent as generated" from "buffered", and can fail
// a generation after the stream began. The raw SSE is read with the project's own parser, not the openai client, so
// that every frame (including `[DONE]` and the error frame) is seen as it is on the wire.

type Script = (onText: (text: string) => void, messages: readonly ChatMessage[]) => Promise<GenerateResult>;

/** The scripted generation of each model, by `id@revision`. */
const scripts = new Map<string, Script>();
const loader: ModelLoader = {
  async load(ref) {
    const model: LoadedModel = {
      ref,
      generate(messages, _options, onText) {
        const script = scripts.get(ref.key);
        if (!script) return Promise.reject(new Error(`no script for ${ref.key}`));
        if (typeof messages === 'string') return Promise.reject(new Error('a chat test sends messages'));
        return script(onText, messages);
      },
      dispose: async () => undefined,
    };
    return model;
  },
  listCached: async () => [],
};
const { url: baseUrl, close } = await startServer({ loader });
t.teardown(close);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one streamed chat saw on the wire. */
interface ChatTranscript {
  readonly status: number;
  readonly contentType: string | null;
  /** The `data:` payloads, in order. */
  readonly data: string[];
  readonly parseErrors: SseParseError[];
}

/** POSTs a streaming chat and reads the whole response with the project's SSE parser; `onData` sees each frame. */
async function streamChat(model: string, onData: (data: string) => void = () => undefined): Promise<ChatTranscript> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Tell me about the river.' }] }),
  });
  const data: string[] = [];
  const parseErrors: SseParseError[] = [];
  const parser = createSseParser({
    onEvent: (event) => {
      data.push(event.data);
      onData(event.data);
    },
    onError: (error) => parseErrors.push(error),
  });
  // The loop ends only when the server ends the response: a stream left open would time the test out.
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk);
  parser.end();
  return { status: res.status, contentType: res.headers.get('content-type'), data, parseErrors };
}

interface Chunk {
  id: string;
  object: string;
  model: string;
  choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** The content pieces of a transcript's frames that are plain content chunks (no role, no finish). */
function contentOf(data: string): string | undefined {
  if (data === '[DONE]') return undefined;
  const chunk = JSON.parse(data) as Partial<Chunk>;
  const choice = chunk.choices?.[0];
  if (!choice || choice.delta.role !== undefined || choice.finish_reason !== null) return undefined;
  return choice.delta.content;
}

t.test('streaming is not buffered: each piece leaves as its own chunk as it is generated', async (t) => {
  const MODEL = 'scripted/steady';
  const KEY = `${MODEL}@main`;
  const PIECES = ['The', ' river', ' runs', ' down', ' to', ' the', ' sea.'];
  /** Pieces the stub has handed to the server so far. */
  let emitted = 0;
  /** Content pieces the client has received so far. */
  const received: string[] = [];
  /** For each piece after the first: had the client received the previous piece when the stub emitted this one? */
  const previousArrivedFirst: boolean[] = [];
  let emittedWhenFirstArrived: number | undefined;
  let seenMessages: readonly ChatMessage[] = [];

  scripts.set(KEY, async (onText, messages) => {
    seenMessages = messages;
    // A server that streams delivers piece i-1 long before piece i is generated; one that buffers never does until
    // the end. The budget only caps the waiting, so that a buffering server fails the assertions below instead of
    // hanging the test; it is shared by all pieces, so a buffering server costs it once.
    let budgetMs = 10_000;
    for (const [i, piece] of PIECES.entries()) {
      await sleep(30);
      if (i > 0) {
        while (received.length < i && budgetMs > 0) {
          await sleep(10);
          budgetMs -= 10;
        }
        previousArrivedFirst.push(received.length >= i);
      }
      emitted += 1;
      onText(piece);
    }
    return { finishReason: 'stop', promptTokens: 9, completionTokens: PIECES.length };
  });

  const tr = await streamChat(MODEL, (data) => {
    const content = contentOf(data);
    if (content === undefined) return;
    if (received.length === 0) emittedWhenFirstArrived = emitted;
    received.push(content);
  });

  t.equal(tr.status, 200);
  t.match(tr.contentType, /^text\/event-stream/);
  t.strictSame(tr.parseErrors, [], 'the stream ended on a frame boundary');
  t.strictSame(seenMessages, [{ role: 'user', content: 'Tell me about the river.' }], 'the model got the messages');

  t.ok(
    emittedWhenFirstArrived !== undefined && emittedWhenFirstArrived < PIECES.length,
    `the first content chunk arrived before the stub emitted its last piece (${emittedWhenFirstArrived} of ${PIECES.length} emitted)`,
  );
  t.strictSame(
    previousArrivedFirst,
    PIECES.slice(1).map(() => true),
    'every piece reached the client before the next one was generated',
  );

  // The whole wire, frame by frame: role, one chunk per piece in order, finish with usage, [DONE], end.
  t.equal(tr.data.length, 1 + PIECES.length + 2, `${tr.data.length} frames`);
  t.equal(tr.data.at(-1), '[DONE]', 'the stream ends with data: [DONE]');
  const chunks = tr.data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
  for (const [i, chunk] of chunks.entries()) {
    t.equal(chunk.object, 'chat.completion.chunk', `frame ${i}: a chunk`);
    t.equal(chunk.model, KEY, `frame ${i}: names ${KEY}`);
    t.equal(chunk.id, chunks[0]?.id, `frame ${i}: one id for the stream`);
    t.equal(chunk.choices.length, 1, `frame ${i}: one choice`);
  }
  t.strictSame(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' }, 'the first chunk names the role');
  t.equal(chunks[0]?.choices[0]?.finish_reason, null);
  for (const [i, piece] of PIECES.entries()) {
    const choice = chunks[1 + i]?.choices[0];
    t.strictSame(choice?.delta, { content: piece }, `piece ${i} is chunk ${1 + i}: ${JSON.stringify(piece)}`);
    t.equal(choice?.finish_reason, null, `piece ${i} does not finish`);
    t.equal(chunks[1 + i]?.usage, undefined, `piece ${i} has no usage`);
  }
  t.strictSame(received, PIECES, 'the client saw the pieces in order, each once');
  const finish = chunks.at(-1);
  t.strictSame(finish?.choices[0]?.delta, {}, 'the finish chunk has an empty delta');
  t.equal(finish?.choices[0]?.finish_reason, 'stop', 'and the finish reason');
  t.strictSame(
    finish?.usage,
    { prompt_tokens: 9, completion_tokens: PIECES.length, total_tokens: 9 + PIECES.length },
    'and the usage',
  );
});

t.test(
  'an error after streaming began: the pieces so far, an error frame, then the end; no finish, no [DONE]',
  async (t) => {
    const MODEL = 'scripted/broken';
    const KEY = `${MODEL}@main`;
    let calls = 0;
    scripts.set(KEY, async (onText) => {
      calls += 1;
      await sleep(30);
      onText('alpha');
      await sleep(30);
      onText(' beta');
      await sleep(30);
      throw new Error('the scripted model fell over');
    });

    const tr = await streamChat(MODEL);
    t.equal(calls, 1, 'one generation');
    t.equal(tr.status, 200, 'the headers had gone out: the status stays 200');
    t.match(tr.contentType, /^text\/event-stream/);
    t.strictSame(tr.parseErrors, [], 'the stream ended on a frame boundary');
    t.equal(tr.data.length, 4, `${tr.data.length} frames: role, two pieces, error`);

    const [role, first, second, error] = tr.data;
    t.strictSame(
      (JSON.parse(role ?? '{}') as Chunk).choices?.[0]?.delta,
      { role: 'assistant', content: '' },
      'the role chunk',
    );
    t.equal(contentOf(first ?? '{}'), 'alpha', 'the first piece, as its own chunk');
    t.equal(contentOf(second ?? '{}'), ' beta', 'the second piece, as its own chunk');

    const body = JSON.parse(error ?? '{}') as { error?: { message?: unknown; type?: unknown; code?: unknown } };
    t.strictSame(Object.keys(body), ['error'], 'the last frame is {"error": {...}} and nothing else');
    t.type(body.error?.message, 'string', 'with a message');
    t.match(String(body.error?.message), /the scripted model fell over/, 'that says what failed');
    t.equal(body.error?.type, 'server_error', 'a type');
    t.equal(body.error?.code, 'GENERATION_FAILED', 'and a code');

    t.notOk(tr.data.includes('[DONE]'), 'no [DONE]');
    const finished = tr.data
      .filter((d) => d !== '[DONE]')
      .map((d) => JSON.parse(d) as Partial<Chunk>)
      .filter((c) => c.choices?.[0]?.finish_reason != null || c.usage !== undefined);
    t.strictSame(finished, [], 'no finish chunk');

    // The server is fine afterwards: the same model streams again, to its end.
    scripts.set(KEY, async (onText) => {
      onText('fine');
      return { finishReason: 'stop', promptTokens: 1, completionTokens: 1 };
    });
    const again = await streamChat(MODEL);
    t.equal(again.data.at(-1), '[DONE]', 'the next generation completes');
  },
);
