/**
 * Server-Sent Events framing: an encoder that cannot be made to inject fields, and an incremental parser that
 * follows the WHATWG "parsing an event stream" rules for arbitrary chunking.
 *
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
 */

import { createSseLineSplitter, type WireLine } from './sse-lines.js';

/** One event to encode. */
export interface SseEventInit {
  /** The payload. Line breaks (CRLF, CR or LF) split it over several `data:` lines; a parser rejoins them with LF. */
  readonly data: string;
  /** The event type (`event:` field). Must not contain CR, LF or NUL. */
  readonly event?: string;
  /** The event id (`id:` field). Must not contain CR, LF or NUL. */
  readonly id?: string;
  /** Reconnection delay for the client, in milliseconds: a non-negative integer. */
  readonly retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;
const SINGLE_LINE_FORBIDDEN = /[\r\n\0]/;

/**
 * Encodes one event as a complete SSE frame, ending with the blank line that dispatches it.
 *
 * Fields are written in the order `event`, `id`, `retry`, `data`, each as `name: value` (with a space, as upstream
 * writes `data: `).
 *
 * @throws TypeError when `event` or `id` contains CR, LF or NUL (which would end the field early and let the rest
 *   of the value become fields of its own), or when `data` is not a string.
 * @throws RangeError when `retry` is not a non-negative safe integer.
 */
export function encodeSseEvent(init: SseEventInit): string {
  if (typeof init.data !== 'string') throw new TypeError('SSE data must be a string');
  let frame = '';
  if (init.event !== undefined) frame += `event: ${singleLine('event', init.event)}\n`;
  if (init.id !== undefined) frame += `id: ${singleLine('id', init.id)}\n`;
  if (init.retry !== undefined) {
    if (!Number.isSafeInteger(init.retry) || init.retry < 0) {
      throw new RangeError(`SSE retry must be a non-negative integer of milliseconds, got ${String(init.retry)}`);
    }
    frame += `retry: ${init.retry}\n`;
  }
  for (const line of init.data.split(LINE_BREAK)) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

function singleLine(field: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`SSE ${field} must be a string`);
  if (SINGLE_LINE_FORBIDDEN.test(value)) {
    throw new TypeError(`SSE ${field} must not contain CR, LF or NUL: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Encodes a frame that only sets the client's reconnection delay (`retry: 2000\n\n`): it dispatches no event.
 *
 * @throws RangeError when `ms` is not a non-negative safe integer.
 */
export function encodeSseRetry(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`SSE retry must be a non-negative integer of milliseconds, got ${String(ms)}`);
  }
  return `retry: ${ms}\n\n`;
}

/**
 * Encodes a comment (ignored by SSE clients; used as a heartbeat): `: keep-alive\n\n` for `'keep-alive'`.
 *
 * Every line of `text` becomes a comment line of its own, so a line break in `text` can never start a field. The
 * frame ends with a blank line; since encoded frames are always complete, that blank line never dispatches anything.
 */
export function encodeSseComment(text: string): string {
  let frame = '';
  for (const line of String(text).split(LINE_BREAK)) frame += line === '' ? ':\n' : `: ${line}\n`;
  return `${frame}\n`;
}

/** An event as the parser dispatches it. */
export interface SseEvent {
  /** The `data:` lines of the event, joined with LF. */
  readonly data: string;
  /** The `event:` field, when the event set a non-empty one. */
  readonly event?: string;
  /** The `id:` field, when this event's own block set one (it is not carried over from earlier events). */
  readonly id?: string;
}

/** Kinds of problem the parser reports (it never throws for malformed input). */
export type SseParseErrorType = 'unknown-field' | 'invalid-retry' | 'invalid-id' | 'incomplete-event';

/** A problem in the stream, reported through `onError`. */
export interface SseParseError {
  readonly type: SseParseErrorType;
  /** Says what was wrong, for logs. */
  readonly message: string;
  /** The offending line, without its line ending (for `incomplete-event`, the unterminated tail, possibly empty). */
  readonly line: string;
}

/** What the parser calls. Only `onEvent` is required. */
export interface SseParserCallbacks {
  /** A complete event (a blank line ended a block with at least one `data` line). */
  onEvent(event: SseEvent): void;
  /** A comment line: the text after the `:`, minus one leading space. */
  onComment?(text: string): void;
  /** A valid `retry:` field: the reconnection delay, in milliseconds. */
  onRetry?(ms: number): void;
  /** A line the spec says to ignore, or data the end of the stream cut off. */
  onError?(error: SseParseError): void;
  /**
   * Every complete line as it was sent (the first without its BOM), before its meaning is applied: for a reader that
   * shows what it read, such as the block an end of the stream cut off.
   */
  onLine?(line: WireLine): void;
}

/** An incremental SSE parser; see {@link createSseParser}. */
export interface SseParser {
  /**
   * Parses the next piece of the stream. Chunks may split lines, CRLF pairs and (for `Uint8Array`) UTF-8
   * characters anywhere. Byte chunks go through one streaming UTF-8 decoder (invalid bytes become U+FFFD); feed
   * either strings or bytes for a stream, not both.
   */
  feed(chunk: string | Uint8Array): void;
  /**
   * Ends the stream. An event still missing its blank line is discarded, as the spec requires (a stream cut off
   * mid-event must not look complete), and reported through `onError` as `incomplete-event`. The parser is then
   * reset, ready for a new stream.
   */
  end(): void;
  /** Forgets everything (partial line, partial event, decoder state, BOM check): call it for a new connection. */
  reset(): void;
}

/**
 * Creates an incremental parser for an SSE stream.
 *
 * Lines end in CRLF, LF or CR, including a CR that ends one chunk and an LF that starts the next (one line break,
 * not two); the splitting is {@link createSseLineSplitter}'s. A UTF-8 BOM at the very start of the stream is dropped.
 * `name:value` fields lose at most one space after the colon; a line without a colon is a field with an empty value.
 * `data` lines are joined with LF; a blank line dispatches the event if it had any `data` line; `event`, `id` and
 * `retry` follow the spec, with the spec's ignored lines (unknown fields, a non-numeric `retry`, an `id` containing
 * NUL) reported through `onError`.
 *
 * A callback may call `reset()` or `end()`; the rest of the chunk being parsed is then dropped.
 */
export function createSseParser(callbacks: SseParserCallbacks): SseParser {
  const input = createChunkDecoder();
  const block = createEventBlock();
  const splitter = createSseLineSplitter(take, { trailingCr: 'end-line' });
  let atStreamStart = true;

  function feed(chunk: string | Uint8Array): void {
    process(input.decode(chunk));
  }

  function process(text: string): void {
    if (text === '') return;
    const bom = atStreamStart && text.charCodeAt(0) === 0xfeff;
    atStreamStart = false;
    splitter.feed(bom ? text.slice(1) : text);
  }

  function take(line: WireLine): void {
    callbacks.onLine?.(line);
    switch (line.field) {
      case 'blank': {
        const event = block.take();
        if (event !== undefined) callbacks.onEvent(event);
        return;
      }
      case 'comment':
        callbacks.onComment?.(line.value);
        return;
      case 'data':
      case 'event':
        block.set(line.field, line.value);
        return;
      case 'id':
        if (line.value.includes('\0')) report('invalid-id', 'ignored an id containing NUL', line.text);
        else block.set('id', line.value);
        return;
      case 'retry':
        if (/^[0-9]+$/.test(line.value)) callbacks.onRetry?.(Number.parseInt(line.value, 10));
        else
          report('invalid-retry', `ignored a retry value that is not all ASCII digits: ${clip(line.value)}`, line.text);
        return;
      case 'unknown':
        // Field names are case-sensitive, per the spec: `Data:` is an unknown field.
        report('unknown-field', `ignored unknown field ${clip(fieldName(line.text))}`, line.text);
        return;
      default: {
        const never: never = line.field;
        throw new TypeError(`unknown line field ${String(never)}`);
      }
    }
  }

  function report(type: SseParseErrorType, message: string, line: string): void {
    callbacks.onError?.({ type, message, line });
  }

  function end(): void {
    process(input.flush());
    const pending = splitter.unterminated();
    // A block with only event/id lines would not be dispatched even if complete, so losing it loses nothing.
    const incomplete = pending !== '' || block.hasData();
    reset();
    if (incomplete) {
      report('incomplete-event', 'the stream ended before the blank line that ends an event; discarded it', pending);
    }
  }

  function reset(): void {
    splitter.reset();
    input.reset();
    block.clear();
    atStreamStart = true;
  }

  return { feed, end, reset };
}

/** Strings or bytes in, text out: byte chunks go through one streaming UTF-8 decoder, flushed before a string. */
function createChunkDecoder(): { decode(chunk: string | Uint8Array): string; flush(): string; reset(): void } {
  let decoder: InstanceType<typeof TextDecoder> | undefined;
  const flush = (): string => {
    const rest = decoder === undefined ? '' : decoder.decode();
    decoder = undefined;
    return rest;
  };
  return {
    decode(chunk) {
      if (typeof chunk === 'string') return flush() + chunk;
      // ignoreBOM keeps a BOM in the text, so that stripping it happens in one place for strings and bytes alike.
      decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
      return decoder.decode(chunk, { stream: true });
    },
    flush,
    reset: () => void (decoder = undefined),
  };
}

/** The fields of the event being read, until a blank line takes it. `id` is not carried over to later events. */
function createEventBlock() {
  let data = '';
  let dataLines = 0;
  let eventType: string | undefined;
  let id: string | undefined;
  const clear = (): void => {
    data = '';
    dataLines = 0;
    eventType = undefined;
    id = undefined;
  };
  return {
    set(field: 'data' | 'event' | 'id', value: string): void {
      if (field === 'data') {
        data = dataLines === 0 ? value : `${data}\n${value}`;
        dataLines++;
      } else if (field === 'event') eventType = value === '' ? undefined : value;
      else id = value;
    },
    hasData: (): boolean => dataLines > 0,
    /** The event, when the block had any data line, and a fresh block either way. */
    take(): SseEvent | undefined {
      const event: SseEvent | undefined =
        dataLines === 0
          ? undefined
          : {
              data,
              ...(eventType === undefined ? {} : { event: eventType }),
              ...(id === undefined ? {} : { id }),
            };
      clear();
      return event;
    },
    clear,
  };
}

function fieldName(text: string): string {
  const colon = text.indexOf(':');
  return colon === -1 ? text : text.slice(0, colon);
}

function clip(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
