/**
 * The tags the event log files lines under, and how its columns show them: a session's tag (`s1`, a configured
 * name) as it is, a server feed's (`feed:127.0.0.1:40405`, kept whole in saved logs and the inspector) shortened to
 * `feed`, or with several servers `f:` and its host cut in the middle (`f:127…405`), so that every line's tag takes one
 * width and the columns after it line up. Pure.
 */

import { truncateMiddle } from '../common/text.js';

const FEED_PREFIX = 'feed:';

/** The tag of a server's feed frames and requests: `feed:host:port`. */
export function feedTag(root: string): string {
  try {
    return `${FEED_PREFIX}${new URL(root).host}`;
  } catch {
    return `${FEED_PREFIX}${root}`;
  }
}

/** True for a feed's tag (a session's tag never has a colon: names are letters, digits, `.`, `_` and `-`). */
export function isFeedTag(tag: string): boolean {
  return tag.startsWith(FEED_PREFIX);
}

/** How a log pane shows tags: one width, and each tag fitted to it. */
export interface TagColumn {
  readonly width: number;
  /** The tag padded (or cut in the middle) to {@link TagColumn.width}. */
  show(tag: string): string;
}

/** Longest a tag column gets; a longer tag is cut in its middle. */
const MAX_TAG_WIDTH = 12;

/**
 * The tag column for a log whose sessions have `tags` and whose feeds are of `feedCount` servers: as wide as the
 * longest session tag (4 at least, for `feed`), and wide enough for `f:` and a few characters of host where several feeds must
 * be told apart.
 */
export function tagColumn(tags: readonly string[], feedCount: number): TagColumn {
  // 4 at least: `feed`, whatever the sessions' tags.
  const longest = Math.max(4, ...tags.map((t) => [...t].length));
  const width = Math.min(MAX_TAG_WIDTH, Math.max(longest, feedCount > 1 ? 10 : feedCount === 1 ? 4 : 0));
  return {
    width,
    show(tag) {
      const shown = isFeedTag(tag)
        ? feedCount > 1
          ? `f:${truncateMiddle(tag.slice(FEED_PREFIX.length), width - 2)}`
          : 'feed'
        : truncateMiddle(tag, width);
      return truncateMiddle(shown, width).padEnd(width);
    },
  };
}
