// Checks the harness itself: a live server starts, answers, and stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRunnel } from './lib/server.mjs';

test('startRunnel serves /healthz and stops cleanly', async () => {
  const srv = await startRunnel();
  try {
    assert.match(srv.baseURL, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${srv.baseURL}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    assert.ok(res.headers.get('x-request-id'), 'every response carries X-Request-ID');
  } finally {
    await srv.stop();
  }
  assert.match(srv.logs, /msg=ready/);
  assert.match(srv.logs, /msg="shutting down"/);
  await assert.rejects(fetch(`${srv.baseURL}/healthz`), 'the server is gone after stop()');
});

test('startRunnel reports a server that cannot start', async () => {
  await assert.rejects(startRunnel(['--log-format', 'xml']), /exited .* before it was ready[\s\S]*log-format/);
});
