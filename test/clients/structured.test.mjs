// Structured output through Runnel with the official `openai` npm package:
// response_format must reach an OpenAI-compatible upstream unchanged, and a
// provider that cannot honour it (the built-in engine) must refuse it with
// an OpenAI-shaped 400 rather than answer free text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import { startBehindRunnel } from './lib/upstream.mjs';

let env; // { srv, client, bodies, stop }
let client;
let bodies;

before(async () => {
  env = await startBehindRunnel(() => {
    const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-x',
      choices: [{ index: 0, delta: { role: 'assistant', content: '{"name":"Ada"}' }, finish_reason: 'stop' }] };
    return `data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
  });
  ({ client, bodies } = env);
});

after(async () => { await env?.stop(); });

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
