// /ws/chat driven by the `ws` npm package: concurrent prompts on one
// connection, cancel by id, garbage answered by an error frame, clean close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startRunnel } from './lib/server.mjs';

let srv;

before(async () => {
  srv = await startRunnel();
});

after(async () => {
  await srv?.stop();
});

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.baseURL.replace('http', 'ws')}/ws/chat`);
    const frames = [];
    const waiters = [];
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      frames.push(f);
      for (const w of [...waiters]) {
        if (w.pred(f)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    });
    ws.once('open', () => resolve({
      ws,
      frames,
      send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
      until: (pred) => {
        const hit = frames.find(pred);
        return hit ? Promise.resolve(hit) : new Promise((res) => waiters.push({ pred, resolve: res }));
      },
    }));
    ws.once('error', reject);
  });
}

const model = 'mock/default?text=Hello%20world%20from%20Runnel';

test('two prompts at once, each with exact text and usage; clean close', async () => {
  const c = await connect();
  c.send({ type: 'chat', id: 'a', model, messages: [{ role: 'user', content: 'Say hello' }] });
  c.send({ type: 'chat', id: 'b', model: 'mock/default?text=Bye%20now', messages: [{ role: 'user', content: 'Say bye' }] });
  const doneA = await c.until((f) => f.type === 'done' && f.id === 'a');
  const doneB = await c.until((f) => f.type === 'done' && f.id === 'b');
  const text = (id) => c.frames.filter((f) => f.type === 'token' && f.id === id).map((f) => f.text).join('');
  assert.equal(text('a'), 'Hello world from Runnel');
  assert.equal(text('b'), 'Bye now');
  assert.deepEqual(doneA.usage, { input_tokens: 2, output_tokens: 4, total_tokens: 6 });
  assert.equal(doneA.finish_reason, 'stop');
  assert.equal(doneB.usage.output_tokens, 2);
  const closed = new Promise((res) => c.ws.once('close', (code) => res(code)));
  c.ws.close(1000, 'bye');
  assert.equal(await closed, 1000);
});

test('cancel by id stops one prompt, the other goes on', async () => {
  const c = await connect();
  c.send({ type: 'chat', id: 'slow', model: 'mock/default?hang_after=1', messages: [{ role: 'user', content: 'x' }] });
  await c.until((f) => f.type === 'token' && f.id === 'slow');
  c.send({ type: 'cancel', id: 'slow' });
  const done = await c.until((f) => f.type === 'done' && f.id === 'slow');
  assert.equal(done.finish_reason, 'cancelled');
  c.send({ type: 'chat', id: 'next', model, messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal((await c.until((f) => f.type === 'done' && f.id === 'next')).finish_reason, 'stop');
  c.ws.close();
});

test('errors: garbage and unknown models get error frames; the connection stays usable', async () => {
  const c = await connect();
  c.send('{this is not json');
  const e1 = await c.until((f) => f.type === 'error');
  assert.equal(e1.error.code, 'invalid_request');
  c.send({ type: 'chat', id: 'u', model: 'mock/default?status=404', messages: [{ role: 'user', content: 'hi' }] });
  const e2 = await c.until((f) => f.type === 'error' && f.id === 'u');
  assert.equal(e2.error.code, 'not_found');
  c.send({ type: 'chat', id: 'm', model: model + '&error_after=1', messages: [{ role: 'user', content: 'hi' }] });
  const e3 = await c.until((f) => f.type === 'error' && f.id === 'm');
  assert.equal(e3.error.code, 'upstream_error');
  c.send({ type: 'chat', id: 'ok', model, messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal((await c.until((f) => f.type === 'done' && f.id === 'ok')).usage.output_tokens, 4);
  c.ws.close();
});

// Seeds 002 and 003 send the prompt as plain text and read token frames
// until done: a prompt for the server's default model (serve --model).
test('a plain-text prompt streams from the default model', async () => {
  const def = await startRunnel(['--model', 'mock/default?text=Hello%20from%20the%20default']);
  try {
    const ws = new WebSocket(`${def.baseURL.replace('http', 'ws')}/ws/chat`);
    const text = await new Promise((resolve, reject) => {
      let out = '';
      ws.on('open', () => ws.send('Hello'));
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString());
        if (f.type === 'token') out += f.text;
        else if (f.type === 'done') resolve(out);
        else reject(new Error(JSON.stringify(f)));
      });
      ws.on('error', reject);
    });
    assert.equal(text, 'Hello from the default');
    ws.close();
  } finally {
    await def.stop();
  }
});

test('a flooding client is closed with 1008', async () => {
  const c = await connect();
  const closed = new Promise((res) => c.ws.once('close', (code) => res(code)));
  for (let i = 0; i < 500 && c.ws.readyState === WebSocket.OPEN; i++) c.send({ type: 'cancel', id: `x${i}` });
  assert.equal(await closed, 1008);
});

test('with --auth: a stream token in the URL connects; none or a forged one is a 401 before the upgrade', async () => {
  const admin = 'admin-secret-key-0123456789';
  const authed = await startRunnel(['--auth'], { RUNNEL_ADMIN_KEY: admin });
  try {
    const res = await fetch(`${authed.baseURL}/api/v1/stream-tokens`, {
      method: 'POST', headers: { Authorization: `Bearer ${admin}` },
    });
    assert.equal(res.status, 200);
    const { token } = await res.json();
    const url = `${authed.baseURL.replace('http', 'ws')}/ws/chat`;

    // What a browser page does: no headers, the token in the query.
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
    const frames = [];
    const done = new Promise((resolve, reject) => {
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        frames.push(f);
        if (f.type === 'done' || f.type === 'error') resolve(f);
      });
      ws.once('error', reject);
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(JSON.stringify({ type: 'chat', id: 'a', model: 'mock/default?text=Hi%20there.', messages: [{ role: 'user', content: 'hi' }] }));
    const last = await done;
    assert.equal(last.type, 'done');
    assert.equal(last.finish_reason, 'stop');
    assert.equal(frames.filter((f) => f.type === 'token').map((f) => f.text).join(''), 'Hi there.');
    ws.close();

    const refused = (u) => new Promise((resolve) => {
      const w = new WebSocket(u);
      w.once('unexpected-response', (_req, resp) => { resolve(resp.statusCode); w.terminate(); });
      w.once('open', () => { resolve('open'); w.close(); });
      w.once('error', () => {});
    });
    assert.equal(await refused(url), 401);
    assert.equal(await refused(`${url}?token=${encodeURIComponent(token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'))}`), 401);
    assert.equal(await refused(`${url}?token=${admin}`), 401);
  } finally {
    await authed.stop();
  }
});
