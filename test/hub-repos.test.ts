import { rm } from 'node:fs/promises';
import t from 'tap';
import { HUB_FIXTURES, layOutHubFixtures, unfetchedWeights } from './helpers/hub-fixtures.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';

// Real repositories, file name for file name, served by the mirror: a load fetches exactly the files transformers.js
// needs for the variant the default choice picks, and nothing else (no placeholder weights, no root extras).

const root = await layOutHubFixtures();
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** The files the mirror served, each once (a ranged download asks for a file several times). */
function fetchedFiles(): string[] {
  return [...new Set(fileDownloads(mirror).map((entry) => entry.replace(/ bytes=.*$/, '')))].sort();
}

async function chat(url: string, model: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: 'Tell me about the river.' }],
      seed: 3,
      max_tokens: 16,
    }),
  });
  const body = (await res.json()) as { choices?: { message?: { content?: string } }[] };
  return { status: res.status, text: body.choices?.[0]?.message?.content ?? JSON.stringify(body) };
}

for (const fixture of HUB_FIXTURES) {
  t.test(`${fixture.id}: fetches only the ${fixture.dtype} variant and its own files, loads and answers`, async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());
    mirror.clearRequests();
    const load = await loadModel(server.url, fixture.id);
    t.equal(load.events.at(-1)?.status, 'ready', `ready: ${JSON.stringify(load.events.at(-1))}`);
    t.same(stagesOf(load.events).at(-1), 'ready');
    const fetched = fetchedFiles();
    t.same(fetched, fixture.fetched, 'exactly the files transformers.js needs');
    const never = unfetchedWeights(fixture.id).filter((path) => fetched.includes(path));
    t.same(never, [], 'no other weights');
    t.ok(
      mirror.requests.every((r) => !r.url.includes('/resolve/') || r.url.startsWith(`/${fixture.id}/`)),
      'nothing of another repository',
    );
    if (fixture.chatTemplate) {
      const reply = await chat(server.url, fixture.id);
      t.equal(reply.status, 200, `a chat answers: ${reply.text}`);
      t.ok(reply.text.length > 0, 'with text');
    }
  });
}
