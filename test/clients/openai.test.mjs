// Drives a live `runnel serve` with the official `openai` npm package
// against the mock provider, whose output is a pure function of its knobs:
// the text, usage and finish are exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { NotFoundError, BadRequestError, APIError } from 'openai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunnel } from './lib/server.mjs';

let srv;
let client;
let modelsDir;

// Bare model names go to the built-in engine with an empty models directory,
// so a name no provider knows is a 404; mock/... names route to the mock.
before(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', modelsDir]);
  client = new OpenAI({ baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key', maxRetries: 0 });
});

after(async () => {
  await srv?.stop();
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
});

test('streamed chat with include_usage: exact text, usage, finish, one chunk per token', async () => {
  const stream = await client.chat.completions.create({
    model: 'mock/default?text=Hello%20world%20from%20Runnel',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const contents = [];
  const ids = new Set();
  const created = new Set();
  let role;
  let finish;
  let usage;
  let n = 0;
  for await (const chunk of stream) {
    n++;
    ids.add(chunk.id);
    created.add(chunk.created);
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) {
      usage = chunk.usage;
      continue;
    }
    const [choice] = chunk.choices;
    if (n === 1) role = choice.delta.role;
    if (choice.delta.content) contents.push(choice.delta.content);
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.deepEqual(contents, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(contents.join(''), 'Hello world from Runnel');
  assert.equal(role, 'assistant');
  assert.equal(finish, 'stop');
  assert.equal(ids.size, 1, 'same id on every chunk');
  assert.equal(created.size, 1, 'same created on every chunk');
  assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
});

test('reasoning goes out as delta.reasoning_content', async () => {
  const stream = await client.chat.completions.create({
    model: 'mock/default?text=Yes&think=3',
    messages: [{ role: 'user', content: 'Think first' }],
    stream: true,
  });
  let reasoning = '';
  let text = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta ?? {};
    reasoning += d.reasoning_content ?? '';
    text += d.content ?? '';
  }
  assert.equal(reasoning, 'Let me think');
  assert.equal(text, 'Yes');
});

test('non-streamed chat, max_tokens gives finish_reason length', async () => {
  const res = await client.chat.completions.create({
    model: 'mock/default?text=one%20two%20three%20four',
    messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Count' }],
    max_tokens: 2,
  });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, 'one two');
  assert.equal(res.choices[0].finish_reason, 'length');
  assert.deepEqual(res.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
});

test('streamed tool call assembles with the SDK helper', async () => {
  const runner = client.chat.completions.stream({
    model: 'mock/default?text=Checking&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D',
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
  });
  const done = await runner.finalChatCompletion();
  const choice = done.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, 'Checking');
  assert.equal(choice.message.tool_calls.length, 1);
  assert.equal(choice.message.tool_calls[0].function.name, 'get_weather');
  assert.equal(choice.message.tool_calls[0].function.arguments, '{"city":"Paris"}');
  assert.ok(choice.message.tool_calls[0].id);
});

test('legacy completions stream', async () => {
  const stream = await client.completions.create({
    model: 'mock/default?text=Once%20upon%20a%20time',
    prompt: 'Tell a story',
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish;
  let usage;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.choices.length === 0) {
      usage = chunk.usage;
      continue;
    }
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, 'Once upon a time');
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
});

test('unknown model is a NotFoundError naming the model', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'nosuchprovider/x', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.param, 'model');
      assert.match(err.message, /nosuchprovider\/x/);
      return true;
    },
  );
});

test('bad input is a BadRequestError naming the field', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'mock/default', messages: [{ role: 'user', content: 'hi' }], temperature: 3 }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.param, 'temperature');
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.message, /temperature must be between 0 and 2/);
      return true;
    },
  );
});

test('mid-stream error: the SDK throws after the text so far', async () => {
  const stream = await client.chat.completions.create({
    model: 'mock/default?text=a%20b%20c%20d%20e&error_after=3',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })(),
    (err) => {
      assert.ok(err instanceof APIError, `got ${err?.constructor?.name}: ${err}`);
      assert.match(err.message, /injected upstream error after 3 tokens/);
      return true;
    },
  );
  assert.equal(text, 'a b c');
});

test('models list includes the mock', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('mock/default'), `models: ${ids}`);
});
