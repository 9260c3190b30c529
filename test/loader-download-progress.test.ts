// The one channel of the download stage: the total fixed before the first byte, each file's bytes clamped into its
// share, so that the figure never decreases nor passes the total through restarts and retries.
import t from 'tap';
import { createDownloadProgress, type DownloadEvent } from '../src/server/fetch/download-progress.js';

function recorder(): { events: DownloadEvent[]; progress: ReturnType<typeof createDownloadProgress> } {
  const events: DownloadEvent[] = [];
  return { events, progress: createDownloadProgress((event) => events.push(event)) };
}

const at = (current: number, total: number): DownloadEvent => ({ type: 'progress', stage: 'download', current, total });

t.test('begin: the stage, then 0 of the bytes to fetch (what is on the disk already left out)', async (t) => {
  const { events, progress } = recorder();
  progress.report('a', 10);
  t.same(events, [], 'nothing before the stage begins');
  progress.begin([
    { path: 'a', have: 0, share: 100 },
    { path: 'b', have: 40, share: 60 },
    { path: 'linked', have: 5, share: 0 },
  ]);
  t.same(events, [{ type: 'stage', stage: 'download' }, at(0, 160)]);
});

t.test('each file counts between what it counted before and its share', async (t) => {
  const { events, progress } = recorder();
  progress.begin([
    { path: 'a', have: 0, share: 100 },
    { path: 'b', have: 40, share: 60 },
  ]);
  events.length = 0;
  progress.report('a', 30);
  progress.report('b', 40); // its resumed prefix: nothing fetched yet
  progress.report('b', 70);
  progress.report('a', 0); // started again from scratch (a failed checksum): stays where it was
  progress.report('a', 30); // no change, no event
  progress.report('a', 500); // more than its share: clamped
  progress.report('unknown', 5);
  t.same(events, [at(30, 160), at(60, 160), at(130, 160)]);
  progress.report('b', 100);
  progress.end();
  t.same(events.slice(3), [at(160, 160)], 'end adds nothing when the total was reached');
});

t.test('end brings the figure to the total when some bytes were never reported', async (t) => {
  const { events, progress } = recorder();
  progress.begin([{ path: 'a', have: 0, share: 100 }]);
  progress.report('a', 90);
  progress.end();
  t.same(events.slice(-2), [at(90, 100), at(100, 100)]);
  const silent = recorder();
  silent.progress.end();
  t.same(silent.events, [], 'a stage never begun ends silently');
});
