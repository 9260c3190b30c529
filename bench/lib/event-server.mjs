/**
 * A synthetic `/load_model` server for the dashboard ingest benchmark, in its own process (a real server is another
 * process): every POST gets `download` progress events at a fixed rate, each stamped with the system-wide monotonic
 * time it was sent (`"t"`, right after `model` so the dashboard's log pane shows it), then `ready`.
 *
 * Arguments: events per stream, events per second per stream.
 */

import http from 'node:http';

const perStream = Number(process.argv[2] ?? 1000);
const rate = Number(process.argv[3] ?? 1000);
const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/load_model') {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error": {"message": "not here"}}');
    return;
  }
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const model = `${JSON.parse(body).model}@main`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: {"status": "loading", "model": "${model}", "stage": "processor"}\n\n`);
    const started = monoMs();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.min(perStream, Math.floor(((monoMs() - started) / 1000) * rate));
      let frames = '';
      for (; sent < due; sent += 1) {
        frames += `data: {"status": "loading", "model": "${model}", "t": ${monoMs().toFixed(3)}, "stage": "download", "progress": {"current": ${sent + 1}, "total": ${perStream}}}\n\n`;
      }
      if (frames) res.write(frames);
      if (sent >= perStream) {
        clearInterval(timer);
        res.end(`data: {"status": "ready", "model": "${model}", "cached": false}\n\n`);
      }
    }, 5);
    res.on('close', () => clearInterval(timer));
  });
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${server.address().port}` });
});
process.on('disconnect', () => process.exit(0));
