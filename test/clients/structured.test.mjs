// Structured output through Runnel with the official `openai` npm package:
// response_format must reach an OpenAI-compatible upstream unchanged, and a
// provider that cannot honour it (the built-in engine) must refuse it with
// an OpenAI-shaped 400 rather than answer free text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { BadRequestError } from 'openai';
import { startRunnel } from './lib/server.mjs';

let srv;
let upstream;
let client;
let modelsDir;
const bodies = []; // request bodies the fake upstream received

// The fake upstream answers every chat call with one JSON text chunk.
before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s) => { body += s; });
    req.on('end', () => {
      bodies.push({ path: req.url, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-x',
        choices: [{ index: 0, delta: { role: 'assistant', content: '{"name":"Ada"}' }, finish_reason: 'stop' }] };
      res.end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
    });
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  modelsDir = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', modelsDir], {
    OPENAI_BASE_URL: `http://127.0.0.1:${upstream.address().port}/v1`,
    OPENAI_API_KEY: 'upstream-key',
  });
  client = new OpenAI({ baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key', maxRetries: 0 });
});

after(async () => {
  await srv?.stop();
  await new Promise((r) => (upstream ? upstream.close(r) : r()));
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
});

const responseFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'person',
    description: 'A person',
    schema: {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
      required: ['name', 'age'],
      additionalProperties: false,
    },
    strict: true,
  },
};

test('json_schema reaches an openai/ upstream unchanged, streamed and not', async () => {
  bodies.length = 0;
  const stream = await client.chat.completions.create({
    model: 'openai/gpt-x',
    messages: [{ role: 'user', content: 'Who?' }],
    response_format: responseFormat,
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, '{"name":"Ada"}');

  const whole = await client.chat.completions.create({
    model: 'openai/gpt-x',
    messages: [{ role: 'user', content: 'Who?' }],
    response_format: { type: 'json_object' },
  });
  assert.equal(whole.choices[0].message.content, '{"name":"Ada"}');

  assert.equal(bodies.length, 2);
  assert.equal(bodies[0].path, '/v1/chat/completions');
  assert.equal(bodies[0].body.model, 'gpt-x');
  assert.deepEqual(bodies[0].body.response_format, responseFormat);
  assert.deepEqual(bodies[1].body.response_format, { type: 'json_object' });
});

test('the engine refuses response_format with a 400 naming it, and calls no upstream', async () => {
  bodies.length = 0;
  for (const stream of [true, false]) {
    await assert.rejects(
      client.chat.completions.create({
        model: 'stories260K',
        messages: [{ role: 'user', content: 'Who?' }],
        response_format: responseFormat,
        stream,
      }),
      (err) => {
        assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 400);
        assert.equal(err.param, 'response_format');
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.error.message, 'response_format json_schema is not supported by provider engine: it cannot constrain its output to JSON');
        return true;
      },
    );
  }
  assert.equal(bodies.length, 0);
});
