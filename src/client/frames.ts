/** What the client reports of the raw stream, for an event log: plain types, no I/O. */

/** The kinds of line the event log records. */
export type FrameKind = 'data' | 'comment' | 'other';

/** One raw frame as received (or a note about the connection), for the event log. */
export interface RawFrame {
  readonly kind: FrameKind;
  /** The `data:` payload as sent (lines joined with LF), the comment's text, or a note. */
  readonly raw: string;
}
