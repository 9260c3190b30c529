/**
 * The SSE frame of a `/load_model` event, encoded once per event. A load hands the same event object to every one of
 * its subscribers in one synchronous loop (`listener-set.ts`), so with a thousand subscribers the frame was
 * serialised a thousand times: in a CPU profile of the fan-out benchmark's server, about 190 of the 504 ms it spent
 * handing frames to 1,000 subscribers (about 2 ms once encoded once).
 */

import { serializeLoadEvent, type LoadEvent } from '../protocol/events.js';
import { encodeSseEvent } from '../protocol/sse.js';

// The last event encoded and its frame: every subscriber after the first of a load's event finds it here. A late
// joiner's replay of an older event misses and encodes it again, which is correct and rare.
let lastEvent: LoadEvent | undefined;
let lastFrame = '';

/** `data: {…}\n\n` for `event`: the same bytes as encoding it afresh (`protocol/sse.ts`, `protocol/events.ts`). */
export function loadEventFrame(event: LoadEvent): string {
  if (event !== lastEvent) {
    lastFrame = encodeSseEvent({ data: serializeLoadEvent(event) });
    lastEvent = event;
  }
  return lastFrame;
}
