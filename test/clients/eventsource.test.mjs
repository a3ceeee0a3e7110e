// The native token stream's GET variant driven by the `eventsource` npm
// package (the WHATWG EventSource API, as a browser uses it), authenticated
// by a short-lived stream token rather than a key in the URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startRunnel } from './lib/server.mjs';

let srv;

before(async () => {
  srv = await startRunnel();
});

after(async () => {
  await srv?.stop();
});

async function streamToken() {
  const res = await fetch(`${srv.baseURL}/api/v1/stream-tokens`, { method: 'POST' });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(body.token && body.expires_at * 1000 > Date.now());
  return body.token;
}

// collect reads events until the one with done: true, then closes.
function collect(url) {
  return new Promise((resolve, reject) => {
    const es = new EventSource(url);
    const events = [];
    es.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      events.push({ id: ev.lastEventId, ...data });
      if (data.done) {
        es.close();
        resolve(events);
      }
    };
    es.onerror = (err) => {
      es.close();
      reject(err);
    };
  });
}

test('GET token stream: exact tokens, ids, final usage', async () => {
  const token = await streamToken();
  const q = new URLSearchParams({
    model: 'mock/default?text=Hello%20world%20from%20Runnel',
    messages: JSON.stringify([{ role: 'user', content: 'Say hello' }]),
    token,
  });
  const events = await collect(`${srv.baseURL}/api/v1/inference/stream?${q}`);
  assert.deepEqual(events.filter((e) => !e.done).map((e) => e.token), ['Hello', ' world', ' from', ' Runnel']);
  assert.deepEqual(events.map((e) => e.id), ['1', '2', '3', '4', '5']);
  assert.ok(events.every((e) => e.provider === 'mock'));
  const last = events.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.finish_reason, 'stop');
  assert.deepEqual(last.usage, { input_tokens: 2, output_tokens: 4, total_tokens: 6 });
});

test('GET with a prompt and parameters', async () => {
  const q = new URLSearchParams({
    model: 'mock/default?text=Hello%20world%20from%20Runnel',
    prompt: 'Say hello',
    parameters: JSON.stringify({ max_tokens: 2 }),
    token: await streamToken(),
  });
  const events = await collect(`${srv.baseURL}/api/v1/inference/stream?${q}`);
  assert.equal(events.filter((e) => !e.done).map((e) => e.token).join(''), 'Hello world');
  assert.equal(events.at(-1).finish_reason, 'length');
});

test('errors: forged token is 401, upstream error ends with an error event', async () => {
  const bad = new URLSearchParams({ model: 'mock/default', prompt: 'hi', token: 'rst1.9999999999.eA.AAAA' });
  await assert.rejects(collect(`${srv.baseURL}/api/v1/inference/stream?${bad}`), (err) => err.code === 401);

  const q = new URLSearchParams({ model: 'mock/default?text=Hello%20world%20from%20Runnel&error_after=2', prompt: 'hi', token: await streamToken() });
  const events = await collect(`${srv.baseURL}/api/v1/inference/stream?${q}`);
  assert.deepEqual(events.filter((e) => !e.done).map((e) => e.token), ['Hello', ' world']);
  const last = events.at(-1);
  assert.equal(last.finish_reason, 'error');
  assert.equal(last.error.code, 'upstream_error');
});
