// Shortening text with an ellipsis: the one helper every layer uses.
import t from 'tap';
import { truncateEnd, truncateMiddle } from '../src/common/text.js';

t.test('trimming keeps both ends and marks the cut', async (t) => {
  t.equal(truncateMiddle('http://very-long-hostname.example.com:8000', 20), 'http://ver….com:8000');
  t.equal([...truncateMiddle('http://very-long-hostname.example.com:8000', 20)].length, 20);
  t.equal(truncateMiddle('short', 20), 'short');
  t.equal(truncateMiddle('abc', 1), '…');
  t.equal(truncateEnd('abcdef', 4), 'abc…');
});

t.test('widths count code points, so a cut never splits a surrogate pair', async (t) => {
  t.equal(truncateEnd('😀😀😀', 3), '😀😀😀', 'three code points fit three cells');
  t.equal(truncateEnd('😀😀😀😀', 3), '😀😀…');
  t.equal(truncateEnd('abc', 0), '');
  t.equal(truncateMiddle('abcdef', 0), '');
});
