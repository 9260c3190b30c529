// Figures for people, as the dashboard and `modeldeck load` print them.
import t from 'tap';
import { formatBytes, formatDuration, percentDone } from '../src/client/format.js';

t.test('figures for people', async (t) => {
  t.same(
    [formatBytes(950), formatBytes(12_345), formatBytes(4_000_000), formatBytes(1.2e9)],
    ['950 B', '12.3 kB', '4.00 MB', '1.20 GB'],
  );
  t.same(
    [formatDuration(400), formatDuration(12_000), formatDuration(185_000), formatDuration(3_720_000)],
    ['0.4s', '12s', '3m05s', '1h02m'],
  );
  t.equal(percentDone({ current: 999, total: 1000 }), 99, 'floored: 100 only when complete');
  t.equal(percentDone({ current: 5, total: null }), null);
  t.equal(percentDone({ current: 0, total: 0 }), 100);
});
