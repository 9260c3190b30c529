import { createSseParser } from '../../src/protocol/sse.js';
import { parseLoadEvent, type LoadEvent } from '../../src/protocol/events.js';

/** One frame of a stream, in arrival order: a `data:` event (by its index in `events`) or a comment line. */
export type TranscriptFrame =
  { readonly kind: 'event'; readonly index: number } | { readonly kind: 'comment'; readonly text: string };

/** What one `/load_model` subscription saw. */
export interface LoadTranscript {
  readonly status: number;
  readonly contentType: string | null;
  /** The parsed `data:` events, in order. */
  readonly events: LoadEvent[];
  /** The raw `data:` payloads, in order. */
  readonly raw: string[];
  /** Comment lines (heartbeats), in order. */
  readonly comments: string[];
  /** Events and comments interleaved, in the order they arrived. */
  readonly frames: TranscriptFrame[];
  /** The body, when the answer was not an event stream. */
  readonly body: string;
  /** True when the client aborted before the stream ended. */
  readonly aborted: boolean;
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: LoadEvent, index: number) => void;
  /** Called for each comment line (a heartbeat), in order with {@link LoadModelOptions.onEvent}. */
  readonly onComment?: (text: string, index: number) => void;
  readonly headers?: Record<string, string>;
}

/** POSTs `/load_model` and reads the whole event stream with the project's own SSE parser over a real socket. */
export async function loadModel(
  baseUrl: string,
  model: string,
  options: LoadModelOptions = {},
): Promise<LoadTranscript> {
  const events: LoadEvent[] = [];
  const raw: string[] = [];
  const comments: string[] = [];
  const frames: TranscriptFrame[] = [];
  let aborted = false;
  const res = await fetch(`${baseUrl}/load_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ model }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const contentType = res.headers.get('content-type');
  if (!contentType?.startsWith('text/event-stream')) {
    return { status: res.status, contentType, events, raw, comments, frames, body: await res.text(), aborted };
  }
  const parser = createSseParser({
    onEvent: ({ data }) => {
      raw.push(data);
      const parsed = parseLoadEvent(data);
      if (!parsed.ok) throw new Error(`unparseable event ${data}: ${parsed.error}`);
      events.push(parsed.event);
      frames.push({ kind: 'event', index: events.length - 1 });
      options.onEvent?.(parsed.event, events.length - 1);
    },
    onComment: (text) => {
      comments.push(text);
      frames.push({ kind: 'comment', text });
      options.onComment?.(text, comments.length - 1);
    },
  });
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk);
    parser.end();
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
    aborted = true;
  }
  return { status: res.status, contentType, events, raw, comments, frames, body: '', aborted };
}

/** The stages of a transcript, with consecutive repeats collapsed. */
export function stagesOf(events: readonly LoadEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const label = e.status === 'loading' ? e.stage : e.status;
    if (out[out.length - 1] !== label) out.push(label);
  }
  return out;
}
