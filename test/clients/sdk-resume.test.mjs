// The JavaScript SDK's resumption (the resume option) against a live runnel
// serve, through a TCP proxy that drops connections mid-stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRunnel } from './lib/server.mjs';
import { cuttingProxy } from './lib/proxy.mjs';
import { Runnel, RunnelError, ConnectionError, AbortError, parseSSE } from '../../sdk/js/runnel.js';

let srv;
before(async () => { srv = await startRunnel(); });
after(async () => { await srv?.stop(); });

const rn0 = () => new Runnel({ baseURL: srv.baseURL, maxRetries: 0 });
const user = [{ role: 'user', content: 'tell me a story' }];
// Deterministic: the same knobs give the same tokens on every run.
const long = 'mock/default?tokens=40&itl=5ms';

// recording is a fetch that keeps every request's method, URL and headers
// and, from a copy of each response body, the SSE events that arrived
// whole; a call's answered settles once its status is known.
function recording() {
  const calls = [];
  const fetch = (url, init) => {
    const call = { url, method: init.method ?? 'GET', headers: new Headers(init.headers), events: [], status: 0 };
    calls.push(call);
    const res = (async () => {
      const res = await globalThis.fetch(url, init);
      call.status = res.status;
      if (!res.body) return res;
      const [mine, theirs] = res.body.tee();
      call.read = (async () => {
        try { for await (const m of parseSSE(theirs)) call.events.push(m); } catch { /* the cut */ }
      })();
      return new Response(mine, { status: res.status, statusText: res.statusText, headers: res.headers });
    })();
    call.answered = res.then(() => {}, () => {});
    return res;
  };
  return { fetch, calls, events: async () => { await Promise.all(calls.map((c) => c.read)); return calls.flatMap((c) => c.events); } };
}

// chunks reads s to its end: the chunks it yielded.
async function chunks(s) {
  const out = [];
  for await (const c of s) out.push(c);
  return out;
}

// The ways to stream, each through the SDK with the resume option given
// per call; usage is where each endpoint reports it.
const kinds = {
  chatStream: (rn, resume) => rn.chatStream(long, user, { resume }),
  streamPredict: (rn, resume) => rn.streamPredict(long, { messages: user, resume }),
  generateStream: (rn, resume) => rn.generateStream({ modelName: long, prompt: 'go', resume }),
};

for (const [kind, start] of Object.entries(kinds)) {
  test(`${kind} resumes through a dropped connection: every event once, in order`, async () => {
    const whole = rn0();
    const ws = start(whole, 0);
    const want = await chunks(ws);
    assert.ok(ws.text.length > 100, ws.text);

    const proxy = await cuttingProxy(srv.baseURL, 1500);
    try {
      const rec = recording();
      const rn = new Runnel({ baseURL: proxy.url, maxRetries: 0, fetch: rec.fetch });
      const s = start(rn, 2);
      const got = await chunks(s);
      assert.ok(proxy.stats.cut, 'the proxy never cut the connection');
      assert.equal(s.reconnects, 1);
      assert.equal(proxy.stats.connections, 2);
      assert.deepEqual(got, want);
      assert.equal(s.text, ws.text);
      assert.deepEqual(s.usage, ws.usage);
      assert.equal(s.finishReason, ws.finishReason);
      assert.deepEqual(s.final?.usage, ws.final?.usage);

      // On the wire: the first request asked for a resumable stream, the
      // second carried the id of the last whole event of the first.
      assert.equal(rec.calls.length, 2);
      const [first, second] = rec.calls;
      assert.equal(first.headers.get('runnel-resumable'), 'true');
      assert.equal(first.headers.get('last-event-id'), null);
      assert.ok(first.events.length > 0 && first.events.length < 20, `the cut came after ${first.events.length} events`);
      assert.equal(second.headers.get('last-event-id'), first.events.at(-1).id);
      // Every event exactly once: ids count up without a gap or a repeat,
      // and the usage arrives once.
      const events = await rec.events();
      const stream = events[0].id.replace(/-1$/, '');
      assert.match(stream, /^rs_[0-9a-f]{32}$/);
      assert.deepEqual(events.map((e) => e.id), events.map((_, i) => `${stream}-${i + 1}`));
      assert.equal(events.filter((e) => /"(usage)"/.test(e.data)).length, 1);
    } finally {
      await proxy.close();
    }
  });
}

test('the client-wide resume option; a cut before the first event resumes from the stream id', async () => {
  const want = await rn0().chatStream(long, user).collect();
  const proxy = await cuttingProxy(srv.baseURL, 'headers');
  try {
    const rec = recording();
    const s = new Runnel({ baseURL: proxy.url, maxRetries: 0, resume: 1, fetch: rec.fetch }).chatStream(long, user);
    assert.equal(await s.collect(), want);
    assert.equal(s.reconnects, 1);
    assert.equal(rec.calls[0].events.length, 0);
    assert.match(rec.calls[1].headers.get('last-event-id'), /^rs_[0-9a-f]{32}-0$/);
    assert.equal(s.usage.completion_tokens, 40);
  } finally {
    await proxy.close();
  }
});

test('resume gives up after n reconnects with a ConnectionError', async () => {
  const proxy = await cuttingProxy(srv.baseURL, 1500, Infinity);
  try {
    const rec = recording();
    const s = new Runnel({ baseURL: proxy.url, maxRetries: 0, resume: 2, fetch: rec.fetch }).chatStream(long, user);
    await assert.rejects(s.collect(), (err) => {
      assert.ok(err instanceof ConnectionError, err);
      assert.equal(err.midStream, true);
      assert.match(err.message, /gave up after 2 reconnects/);
      return true;
    });
    assert.equal(s.reconnects, 2);
    assert.equal(proxy.stats.connections, 3);
    assert.ok(s.text.length > 0);
    // A network cut is not a stop: the stream is left to its grace period.
    assert.deepEqual(rec.calls.map((c) => c.method), ['POST', 'POST', 'POST']);
  } finally {
    await proxy.close();
  }
});

test('resume: 0 (the default) fails on a cut as before, and asks for no resumable stream', async () => {
  const want = await rn0().chatStream(long, user).collect();
  const proxy = await cuttingProxy(srv.baseURL, 1500);
  try {
    const rec = recording();
    const s = new Runnel({ baseURL: proxy.url, maxRetries: 0, fetch: rec.fetch }).chatStream(long, user);
    await assert.rejects(s.collect(), (err) => {
      assert.ok(err instanceof ConnectionError, err);
      assert.equal(err.midStream, true);
      assert.match(err.message, /^stream interrupted/);
      return true;
    });
    assert.equal(proxy.stats.connections, 1);
    assert.equal(s.reconnects, 0);
    assert.equal(rec.calls[0].headers.get('runnel-resumable'), null);
    assert.ok(s.text.length > 0 && want.startsWith(s.text) && s.text !== want, s.text);
    assert.ok(rec.calls[0].events.every((e) => !e.id.startsWith('rs_')), 'a stream that did not ask is not resumable');
  } finally {
    await proxy.close();
  }
});

test('an abort cancels at once and does not reconnect', async () => {
  const rec = recording();
  const rn = new Runnel({ baseURL: srv.baseURL, maxRetries: 0, resume: 3, fetch: rec.fetch });
  const ctl = new AbortController();
  const s = rn.chatStream('mock/default?tokens=40&itl=20ms', user, { signal: ctl.signal });
  let n = 0;
  await assert.rejects((async () => {
    for await (const _ of s) if (++n === 2) ctl.abort();
  })(), AbortError);
  assert.equal(n, 2);
  assert.equal(s.reconnects, 0);
  const posts = () => rec.calls.filter((c) => c.method === 'POST').length;
  assert.equal(posts(), 1);

  // stream.abort(), from outside the loop while it waits for a token.
  const s2 = rn.chatStream('mock/default?text=a%20b%20c&hang_after=2', user);
  const seen = [];
  await assert.rejects((async () => {
    for await (const c of s2) {
      seen.push(c.text);
      if (seen.length === 2) setImmediate(() => s2.abort());
    }
  })(), AbortError);
  assert.deepEqual(seen, ['a', ' b']);
  assert.equal(s2.reconnects, 0);
  assert.equal(posts(), 2);
});

// With auth on and an hour's grace, only the SDK's DELETE can end a stopped
// stream's generation before the test's guard: the mock (hang_after) streams
// until it is cancelled, so its call record, "cancelled", is the proof.
test('stopping a resumable stream cancels its generation on the server: signal, abort(), break', async () => {
  const admin = 'admin-secret-key-0123456789';
  const authed = await startRunnel(['--auth'], { RUNNEL_ADMIN_KEY: admin, RUNNEL_RESUME_GRACE: '1h' });
  try {
    const recorded = async (marker) => {
      const deadline = Date.now() + 20_000; // a deadlock guard, not a latency assertion
      for (;;) {
        const res = await fetch(`${authed.baseURL}/admin/calls?limit=100`, { headers: { Authorization: `Bearer ${admin}` } });
        const call = (await res.json()).calls.find((c) => c.model.includes(marker));
        if (call) return call;
        if (Date.now() > deadline) assert.fail(`the call of ${marker} was never recorded: the server did not cancel it`);
        await sleep(20);
      }
    };
    const rec = recording();
    const rn = new Runnel({ baseURL: authed.baseURL, apiKey: admin, maxRetries: 0, resume: 2, fetch: rec.fetch });
    const model = (marker) => `mock/default?hang_after=2&text=${marker}%20b%20c`;
    const ways = {
      signal: async (m) => {
        const ctl = new AbortController();
        const s = rn.chatStream(model(m), user, { signal: ctl.signal });
        await assert.rejects((async () => { for await (const _ of s) ctl.abort(); })(), AbortError);
      },
      abort: async (m) => {
        const s = rn.streamPredict(model(m), { messages: user });
        await assert.rejects((async () => { for await (const _ of s) setImmediate(() => s.abort()); })(), AbortError);
      },
      break: async (m) => {
        const s = rn.generateStream({ modelName: model(m), prompt: 'go' });
        for await (const _ of s) break;
      },
    };
    for (const [way, stop] of Object.entries(ways)) {
      const marker = `stop${way}`;
      const before = rec.calls.length;
      await stop(marker);
      const call = await recorded(marker);
      assert.equal(call.status, 'cancelled', `${way}: ${JSON.stringify(call)}`);
      const [post, del] = rec.calls.slice(before);
      assert.equal(rec.calls.length - before, 2, `${way}: ${rec.calls.slice(before).map((c) => c.method)}`);
      assert.equal(del.method, 'DELETE');
      assert.equal(del.url, `${authed.baseURL}/api/v1/streams/${post.events[0].id.replace(/-1$/, '')}`);
      assert.equal(del.headers.get('authorization'), `Bearer ${admin}`);
      await del.answered;
      assert.equal(del.status, 204, way);
    }
  } finally {
    await authed.stop();
  }
});

test('a reconnect to a stream the server does not know is its 404', async () => {
  const proxy = await cuttingProxy(srv.baseURL, 1500);
  try {
    // Rewrites the resumed stream's id to one that never existed.
    const fetch = (url, init) => {
      const h = new Headers(init.headers);
      if (h.has('last-event-id')) h.set('last-event-id', `rs_${'0'.repeat(32)}-3`);
      return globalThis.fetch(url, { ...init, headers: h });
    };
    const s = new Runnel({ baseURL: proxy.url, maxRetries: 0, resume: 3, fetch }).chatStream(long, user);
    await assert.rejects(s.collect(), (err) => {
      assert.ok(err instanceof RunnelError && !(err instanceof ConnectionError), err);
      assert.equal(err.status, 404);
      assert.equal(err.midStream, true);
      assert.match(err.message, /not found/);
      return true;
    });
    assert.equal(s.reconnects, 1);
  } finally {
    await proxy.close();
  }
});

// A scripted server for answers runnel serve gives only in rare states: the
// first request gets two events and a cut, a reconnect gets `reconnect`.
async function scripted(reconnect) {
  const { createServer } = await import('node:http');
  const requests = [];
  const id = `rs_${'a'.repeat(32)}`;
  const server = createServer((req, res) => {
    requests.push(req.headers);
    if (req.headers['last-event-id']) return reconnect(res);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`id: ${id}-1\ndata: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n`);
    res.write(`id: ${id}-2\ndata: {"choices":[{"index":0,"delta":{"content":" there"}}]}\n\nid: ${id}-3\ndata: {"cho`);
    setImmediate(() => res.socket.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, requests, id, close: () => new Promise((r) => server.close(r)) };
}

test('a 204 to a reconnect ends the stream cleanly; a 409 is surfaced', async () => {
  const ok = await scripted((res) => { res.writeHead(204); res.end(); });
  try {
    const s = new Runnel({ baseURL: ok.url, maxRetries: 0, resume: 1 }).chatStream('m', user);
    assert.equal(await s.collect(), 'Hello there');
    assert.equal(ok.requests.length, 2);
    assert.equal(ok.requests[1]['last-event-id'], `${ok.id}-2`);
    assert.equal(ok.requests[1]['runnel-resumable'], 'true');
  } finally {
    await ok.close();
  }
  const gone = await scripted((res) => {
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"stream can no longer be resumed","code":"conflict"}}');
  });
  try {
    const s = new Runnel({ baseURL: gone.url, maxRetries: 0, resume: 3 }).chatStream('m', user);
    await assert.rejects(s.collect(), (err) => err instanceof RunnelError && err.status === 409 && err.midStream && /no longer/.test(err.message));
    assert.equal(s.text, 'Hello there');
    assert.equal(gone.requests.length, 2);
  } finally {
    await gone.close();
  }
});
