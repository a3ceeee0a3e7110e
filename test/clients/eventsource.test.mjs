// The native token stream's GET variant driven by the `eventsource` npm
// package (the WHATWG EventSource API, as a browser uses it), authenticated
// by a short-lived stream token rather than a key in the URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunnel } from './lib/server.mjs';
import { cuttingProxy } from './lib/proxy.mjs';

let srv;
let models;

before(async () => {
  // An empty models directory makes the built-in engine the default
  // provider, so a name no provider knows is a 404, not a mock stream.
  models = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', models]);
});

after(async () => {
  await srv?.stop();
  if (models) await rm(models, { recursive: true, force: true });
});

async function streamToken(baseURL = srv.baseURL) {
  const res = await fetch(`${baseURL}/api/v1/stream-tokens`, { method: 'POST' });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(body.token && body.expires_at * 1000 > Date.now());
  return body.token;
}

// collect reads events until the one with done: true, then closes. An
// EventSource error carries only the HTTP status (as in browsers), so the
// package's fetch hook keeps the body of a failed response in
// err.serverBody, to check the server's message.
function collect(url) {
  let failedBody;
  const fetchHook = async (input, init) => {
    const res = await fetch(input, init);
    if (res.status !== 200) failedBody = await res.clone().text();
    return res;
  };
  return new Promise((resolve, reject) => {
    const es = new EventSource(url, { fetch: fetchHook });
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
      err.serverBody = failedBody;
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
  // The GET stream is resumable: ids name the stream, then count from 1.
  const stream = events[0].id.replace(/-1$/, '');
  assert.match(stream, /^rs_[0-9a-f]{32}$/);
  assert.deepEqual(events.map((e) => e.id), [1, 2, 3, 4, 5].map((n) => `${stream}-${n}`));
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
  assert.match(last.error.message, /injected upstream error after 2 tokens/);
});

test('errors: unknown model is a 404 whose body names the model', async () => {
  const q = new URLSearchParams({ model: 'nosuchprovider/nosuchmodel', prompt: 'hi', token: await streamToken() });
  await assert.rejects(collect(`${srv.baseURL}/api/v1/inference/stream?${q}`), (err) => {
    assert.equal(err.code, 404);
    const body = JSON.parse(err.serverBody);
    assert.match(JSON.stringify(body), /nosuchprovider\/nosuchmodel/);
    return true;
  });
});

test('thinking tokens arrive on the thinking channel, before the output, when asked for', async () => {
  const q = new URLSearchParams({
    model: 'mock/default?text=Yes&think=3', prompt: 'hi', token: await streamToken(),
    parameters: JSON.stringify({ enable_thinking: true }),
  });
  const events = await collect(`${srv.baseURL}/api/v1/inference/stream?${q}`);
  const tokens = events.filter((e) => !e.done);
  assert.deepEqual(tokens.map((e) => [e.channel ?? 'output', e.token]), [
    ['thinking', 'Let'], ['thinking', ' me'], ['thinking', ' think'], ['output', 'Yes'],
  ]);
  assert.equal(events.at(-1).finish_reason, 'stop');
  assert.deepEqual(events.at(-1).usage, { input_tokens: 1, output_tokens: 4, total_tokens: 5 });
});

test('keep-alive comments between slow tokens are skipped', async () => {
  const ka = await startRunnel(['--keep-alive', '5ms']);
  try {
    const words = Array.from({ length: 10 }, (_, i) => `w${i + 1}`);
    const url = async () => {
      const q = new URLSearchParams({
        model: `mock/default?itl=60ms&text=${encodeURIComponent(words.join(' '))}`,
        prompt: 'hi',
        token: await streamToken(ka.baseURL),
      });
      return `${ka.baseURL}/api/v1/inference/stream?${q}`;
    };
    // Read raw first: comments really are on the wire between the tokens.
    const raw = await (await fetch(await url())).text();
    assert.ok(raw.split('\n').some((l) => l.startsWith(':')), `no keep-alive comment in\n${raw}`);
    const events = await collect(await url());
    assert.deepEqual(events.filter((e) => !e.done).map((e) => e.token), words.map((w, i) => (i ? ` ${w}` : w)));
    assert.equal(events.at(-1).finish_reason, 'stop');
    assert.deepEqual(events.at(-1).usage, { input_tokens: 1, output_tokens: 10, total_tokens: 11 });
  } finally {
    await ka.stop();
  }
});

// Seed 002's browser client, as the seed writes it (only the URL changed,
// and a model named, since this server's default is the engine): it closes
// on [DONE], so it ends cleanly, without an error or a reconnect.
test('seed 002: an EventSource that closes on [DONE] ends cleanly', async () => {
  const q = new URLSearchParams({ model: 'mock/default?text=Hello%20world&think=2', prompt: 'Hello', token: await streamToken() });
  const output = { textContent: '' };
  const errors = [];
  await new Promise((resolve) => {
    const eventSource = new EventSource(`${srv.baseURL}/api/v1/inference/stream?${q}`);

    eventSource.onmessage = function(event) {
        if (event.data === "[DONE]") {
            eventSource.close();
            resolve();
            return;
        }
        const data = JSON.parse(event.data);
        output.textContent += data.token;
    };
    eventSource.onerror = (err) => {
      errors.push(err);
      eventSource.close();
      resolve();
    };
  });
  assert.deepEqual(errors, []);
  // No reasoning in the answer: the client did not ask for it.
  assert.equal(output.textContent, 'Hello world');
});

test('an EventSource left open does not run the prompt again when the stream ends', async () => {
  const q = new URLSearchParams({ model: 'mock/default?text=Hello%20world', prompt: 'hi', token: await streamToken() });
  const es = new EventSource(`${srv.baseURL}/api/v1/inference/stream?${q}`);
  const tokens = [];
  await new Promise((resolve) => {
    es.onmessage = (ev) => {
      if (ev.data === '[DONE]') return; // read on, as a client that ignores it would
      const data = JSON.parse(ev.data);
      if (!data.done) tokens.push(data.token);
    };
    // The reconnect (with Last-Event-ID) gets 204, which closes the source.
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) resolve();
    };
  });
  assert.deepEqual(tokens, ['Hello', ' world']);
});

test('resumption: EventSource reconnects with Last-Event-ID through a dropped connection and loses nothing', async () => {
  // Slow enough that the reconnect (after EventSource's 3 s) finds the
  // stream still running: it gets the missed events, then the live ones.
  const model = 'mock/default?tokens=60&itl=60ms';
  const path = async () => {
    const q = new URLSearchParams({ model, prompt: 'hi', token: await streamToken() });
    return `/api/v1/inference/stream?${q}`;
  };
  const whole = await collect(`${srv.baseURL}${await path()}`);
  const want = whole.filter((e) => !e.done).map((e) => e.token).join('');
  assert.ok(want.length > 100, want);

  const proxy = await cuttingProxy(srv.baseURL, 900);
  try {
    const es = new EventSource(`${proxy.url}${await path()}`);
    const events = [];
    const lastIds = [];
    await new Promise((resolve, reject) => {
      es.onmessage = (ev) => {
        const data = JSON.parse(ev.data);
        events.push({ id: ev.lastEventId, ...data });
        if (data.done) {
          es.close();
          resolve();
        }
      };
      // A dropped connection is an error event while EventSource goes on
      // CONNECTING; it then reconnects by itself.
      es.onerror = () => {
        lastIds.push(events.at(-1)?.id);
        if (es.readyState === EventSource.CLOSED) reject(new Error('the EventSource gave up'));
      };
    });
    assert.ok(proxy.stats.cut, 'the proxy never cut the connection');
    assert.equal(proxy.stats.connections, 2, 'EventSource should have reconnected once');
    assert.equal(lastIds.length, 1);
    assert.ok(events.findIndex((e) => e.id === lastIds[0]) < events.length - 2, 'the cut came too late to test anything');
    const got = events.filter((e) => !e.done).map((e) => e.token).join('');
    assert.equal(got, want);
    // Every event exactly once: ids count up without a gap or a repeat.
    const stream = events[0].id.replace(/-1$/, '');
    assert.deepEqual(events.map((e) => e.id), events.map((_, i) => `${stream}-${i + 1}`));
    assert.equal(events.filter((e) => e.done).length, 1);
    assert.deepEqual(events.at(-1).usage, whole.at(-1).usage);
  } finally {
    await proxy.close();
  }
});
