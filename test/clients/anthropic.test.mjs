// Drives a live `runnel serve` with the official `@anthropic-ai/sdk`. Its
// MessageStream rejects events out of order, so a passing stream is a
// well-formed Messages event sequence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startRunnel } from './lib/server.mjs';

let srv;
let client;

before(async () => {
  srv = await startRunnel();
  client = new Anthropic({ baseURL: srv.baseURL, apiKey: 'test-key', maxRetries: 0 });
});

after(async () => {
  await srv?.stop();
});

const model = 'mock/default?text=Hello%20world%20from%20Runnel';

test('MessageStream: exact text, thinking, usage and stop_reason', async () => {
  const stream = client.messages.stream({
    model: model + '&think=2',
    max_tokens: 100,
    thinking: { type: 'enabled', budget_tokens: 50 },
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  const texts = [];
  const thoughts = [];
  stream.on('text', (t) => texts.push(t));
  stream.on('thinking', (t) => thoughts.push(t));
  const msg = await stream.finalMessage();
  assert.deepEqual(texts, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(thoughts.join(''), 'Let me');
  assert.equal(msg.role, 'assistant');
  assert.deepEqual(msg.content.map((b) => b.type), ['thinking', 'text']);
  assert.equal(msg.content[1].text, 'Hello world from Runnel');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.input_tokens, 2);
  assert.equal(msg.usage.output_tokens, 6);
});

test('raw stream event order, max_tokens stop', async () => {
  const stream = await client.messages.create({
    model, max_tokens: 2, stream: true, messages: [{ role: 'user', content: 'Say hello' }],
  });
  const types = [];
  let stop;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
  }
  assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop']);
  assert.equal(stop, 'max_tokens');
});

test('stop_sequences: stop_reason stop_sequence names the sequence, streamed and not', async () => {
  const params = {
    model: 'mock/default?text=Hello%20world%20STOP%20from%20Runnel',
    max_tokens: 100,
    stop_sequences: ['NEVER', 'STOP'],
    messages: [{ role: 'user', content: 'Say hello' }],
  };
  const stream = client.messages.stream(params);
  const msg = await stream.finalMessage();
  assert.equal(msg.content[0].text, 'Hello world ');
  assert.equal(msg.stop_reason, 'stop_sequence');
  assert.equal(msg.stop_sequence, 'STOP');

  const whole = await client.messages.create(params);
  assert.equal(whole.content[0].text, 'Hello world ');
  assert.equal(whole.stop_reason, 'stop_sequence');
  assert.equal(whole.stop_sequence, 'STOP');
});

test('tool_use blocks from tool calls', async () => {
  const msg = await client.messages.stream({
    model: 'mock/default?text=ok&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D',
    max_tokens: 100,
    tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    messages: [{ role: 'user', content: 'Weather?' }],
  }).finalMessage();
  assert.equal(msg.stop_reason, 'tool_use');
  const tool = msg.content.find((b) => b.type === 'tool_use');
  assert.equal(tool.name, 'get_weather');
  assert.deepEqual(tool.input, { city: 'Paris' });
});

test('non-streamed message', async () => {
  const msg = await client.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal(msg.content[0].text, 'Hello world from Runnel');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual([msg.usage.input_tokens, msg.usage.output_tokens], [2, 4]);
});

test('errors: validation, unknown model, mid-stream error event', async () => {
  await assert.rejects(
    client.messages.create({ model, max_tokens: 10, temperature: 1.5, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof Anthropic.BadRequestError && err.error.error.type === 'invalid_request_error' && /temperature/.test(err.message),
  );
  await assert.rejects(
    client.messages.create({ model: 'mock/default?status=404', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof Anthropic.NotFoundError && err.error.error.type === 'not_found_error',
  );
  const stream = client.messages.stream({ model: model + '&error_after=2', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  await assert.rejects(stream.finalMessage(), /mock/);
  assert.deepEqual(texts, ['Hello', ' world']);
});

test('messages.countTokens: the input_tokens the call then reports; bad input is a 400', async () => {
  const body = {
    model,
    system: 'Be brief.',
    messages: [{ role: 'user', content: 'Say hello' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Again, louder' }],
  };
  const count = await client.messages.countTokens(body);
  const msg = await client.messages.create({ ...body, max_tokens: 5 });
  assert.ok(count.input_tokens > 0);
  assert.equal(count.input_tokens, msg.usage.input_tokens);
  await assert.rejects(
    client.messages.countTokens({ model, messages: [] }),
    (err) => err instanceof Anthropic.BadRequestError && /messages/.test(err.message),
  );
});
