// The JavaScript SDK (sdk/js/runnel.js) against a live runnel serve.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startRunnel } from './lib/server.mjs';
import { Runnel, RunnelError, ConnectionError, AbortError, parseSSE } from '../../sdk/js/runnel.js';

let srv, rn;
before(async () => {
  srv = await startRunnel();
  rn = new Runnel({ baseURL: srv.baseURL, maxRetries: 0 });
});
after(async () => { await srv?.stop(); });

const model = (knobs) => `mock/default?${new URLSearchParams(knobs)}`;
const user = [{ role: 'user', content: 'tell me a story' }];

test('chatStream yields the text, usage, finish reason and metrics', async () => {
  const s = rn.chatStream(model({ text: 'Hello there, friend', tokens: 4 }), user);
  const chunks = [];
  for await (const c of s) chunks.push(c.text);
  assert.deepEqual(chunks, ['Hello', ' there', ',', ' friend']);
  assert.equal(s.text, 'Hello there, friend');
  assert.equal(s.finishReason, 'stop');
  assert.deepEqual(s.usage, { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
  const m = s.metrics();
  assert.equal(m.chunks, 4);
  assert.ok(m.ttfc >= 0 && m.total >= m.ttfc, JSON.stringify(m));
  assert.ok(m.meanChunkGap >= 0);
});

test('chatStream separates the thinking channel', async () => {
  const s = rn.chatStream(model({ text: 'Yes.', think: 3 }), user);
  const channels = new Set();
  for await (const c of s) channels.add(c.channel);
  assert.deepEqual([...channels].sort(), ['output', 'thinking']);
  assert.equal(s.text, 'Yes.');
  assert.equal(s.thinking, 'Let me think');
});

test('an unknown model is a RunnelError with the server message', async () => {
  await assert.rejects(rn.chatStream('nope/nothing', user).collect(), (err) => {
    assert.ok(err instanceof RunnelError);
    assert.equal(err.status, 404);
    assert.match(err.message, /nope/);
    assert.equal(err.midStream, false);
    return true;
  });
});

test('a mid-stream upstream failure is a RunnelError after the text so far', async () => {
  const s = rn.chatStream(model({ text: 'one two three four', error_after: 2 }), user);
  await assert.rejects(s.collect(), (err) => {
    assert.ok(err instanceof RunnelError && !(err instanceof ConnectionError));
    assert.equal(err.midStream, true);
    return true;
  });
  assert.equal(s.text, 'one two');
});

test('aborting a stream rejects with AbortError', async () => {
  const ctl = new AbortController();
  const s = rn.chatStream(model({ text: 'a b c', hang_after: 2 }), user, { signal: ctl.signal });
  const seen = [];
  await assert.rejects((async () => {
    for await (const c of s) {
      seen.push(c.text);
      if (seen.length === 2) ctl.abort();
    }
  })(), AbortError);
  assert.deepEqual(seen, ['a', ' b']);
});

test('chat without streaming', async () => {
  const r = await rn.chat(model({ text: 'Plain answer' }), user);
  assert.equal(r.choices[0].message.content, 'Plain answer');
  assert.equal(r.usage.completion_tokens, 2);
});

test('models lists the mock model', async () => {
  const models = await rn.models();
  assert.ok(models.some((m) => m.id.startsWith('mock/')), JSON.stringify(models));
});

test('the server serves this SDK at /sdk/runnel.js', async () => {
  const res = await fetch(`${srv.baseURL}/sdk/runnel.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  assert.equal(await res.text(), await readFile(new URL('../../sdk/js/runnel.js', import.meta.url), 'utf8'));
});

test('an unreachable server is a ConnectionError', async () => {
  const dead = await startRunnel();
  const url = dead.baseURL;
  await dead.stop();
  const c = new Runnel({ baseURL: url, maxRetries: 1 });
  await assert.rejects(c.chatStream(model({}), user).collect(), (err) => err instanceof ConnectionError && !err.midStream);
});

test('parseSSE follows the WHATWG framing rules', async () => {
  const body = new Blob(['\ufeffdata: a\r\ndata: b\r\n\r\n: comment\nid: 7\nevent: x\ndata:c\r\rdata: unterminated']).stream();
  const got = [];
  for await (const m of parseSSE(body)) got.push(m);
  assert.deepEqual(got, [
    { id: '', event: 'message', data: 'a\nb' },
    { id: '7', event: 'x', data: 'c' },
  ]);
});

test('streamPredict yields the native token stream', async () => {
  const s = rn.streamPredict(model({ text: 'Native tokens here' }), { messages: user, parameters: { max_tokens: 2 } });
  const tokens = [];
  for await (const c of s) tokens.push(c.token);
  assert.deepEqual(tokens, ['Native', ' tokens']);
  assert.equal(s.provider, 'mock');
  assert.equal(s.usage.completion_tokens ?? s.usage.output_tokens, 2);
});

test('generateStream calls OnChunk, OnThinking and OnComplete', async () => {
  const out = [], thoughts = [];
  let final;
  const s = rn.generateStream({
    modelName: model({ text: 'Typed output', think: 2 }), prompt: 'go',
    onChunk: (c) => out.push(c.content), onThinking: (c) => thoughts.push(c.content), onComplete: (f) => { final = f; },
  });
  await s.collect();
  assert.deepEqual(out, ['Typed', ' output']);
  assert.deepEqual(thoughts, ['Let', ' me']);
  assert.equal(final.final, true);
  assert.deepEqual(final.usage, { input_tokens: 1, output_tokens: 4, total_tokens: 5 });
  assert.deepEqual(final.warnings, []);
});

test('a mid-stream failure on generateStream is a RunnelError, not output text', async () => {
  const out = [];
  let completed = false;
  const s = rn.generateStream({
    modelName: model({ text: 'one two three four', error_after: 2 }), prompt: 'go',
    onChunk: (c) => out.push(c.content), onComplete: () => { completed = true; },
  });
  await assert.rejects(s.collect(), (err) => {
    assert.ok(err instanceof RunnelError && !(err instanceof ConnectionError));
    assert.equal(err.midStream, true);
    assert.equal(err.code, 'upstream_error');
    return true;
  });
  assert.deepEqual(out, ['one', ' two']);
  assert.equal(completed, false);
});

// A scripted HTTP server for what runnel serve cannot be made to do on cue.
async function scripted(handler) {
  const { createServer } = await import('node:http');
  const server = createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('429 and 503 before the first token are retried with backoff', async () => {
  let calls = 0;
  const s = await scripted((req, res) => {
    calls++;
    if (calls === 1) { res.writeHead(429, { 'retry-after': '0' }); return res.end('{"error":{"message":"slow down"}}'); }
    if (calls === 2) { res.writeHead(503); return res.end('{"error":{"message":"busy"}}'); }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
  });
  try {
    const text = await new Runnel({ baseURL: s.url, maxRetries: 2 }).chatStream('m', user).collect();
    assert.equal(text, 'ok');
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(new Runnel({ baseURL: s.url, maxRetries: 0 }).chatStream('m', user).collect(),
      (err) => err instanceof RunnelError && err.status === 429 && err.message === 'slow down');
  } finally {
    await s.close();
  }
});

test('a connection cut mid-stream is a ConnectionError, not a clean end', async () => {
  const s = await scripted((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n');
    setTimeout(() => res.socket.destroy(), 20);
  });
  try {
    const st = new Runnel({ baseURL: s.url }).chatStream('m', user);
    await assert.rejects(st.collect(), (err) => err instanceof ConnectionError && err.midStream === true);
    assert.equal(st.text, 'par');
  } finally {
    await s.close();
  }
});
