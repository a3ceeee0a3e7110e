// A fake OpenAI-compatible upstream with `runnel serve` in front of it, for
// tests of what Runnel forwards to and relays from openai/… models.
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startRunnel } from './server.mjs';

// startBehindRunnel starts the fake upstream, which records every request
// body in `bodies` and answers with the SSE text `respond(body)` returns,
// and a Runnel routing openai/… to it (with an empty models directory, so
// bare names reach the engine and find no model). It returns the server,
// an `openai` client of it, the bodies, and stop().
export async function startBehindRunnel(respond) {
  const bodies = [];
  const upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s) => { body += s; });
    req.on('end', () => {
      const parsed = JSON.parse(body);
      bodies.push({ path: req.url, body: parsed });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(respond(parsed));
    });
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  const modelsDir = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  const srv = await startRunnel(['--models-dir', modelsDir], {
    OPENAI_BASE_URL: `http://127.0.0.1:${upstream.address().port}/v1`,
    OPENAI_API_KEY: 'upstream-key',
  });
  const client = new OpenAI({ baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key', maxRetries: 0 });
  return {
    srv, client, bodies,
    async stop() {
      await srv.stop();
      await new Promise((r) => upstream.close(r));
      await rm(modelsDir, { recursive: true, force: true });
    },
  };
}
