// Drives a live `runnel serve` with the official `ollama` npm package
// against the mock provider, whose output is a pure function of its knobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startRunnel } from './lib/server.mjs';

let srv;
let ollama;

before(async () => {
  srv = await startRunnel();
  ollama = new Ollama({ host: srv.baseURL });
});

after(async () => {
  await srv?.stop();
});

const model = 'mock/default?text=Hello%20world%20from%20Runnel';

test('streamed chat: exact text, thinking, counts and done_reason', async () => {
  const stream = await ollama.chat({
    model: model + '&think=2',
    messages: [{ role: 'user', content: 'Say hello' }],
    think: true,
    stream: true,
  });
  const contents = [];
  const thinking = [];
  let last;
  for await (const part of stream) {
    assert.equal(part.message.role, 'assistant');
    if (part.message.content) contents.push(part.message.content);
    if (part.message.thinking) thinking.push(part.message.thinking);
    last = part;
  }
  assert.deepEqual(contents, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(thinking.join(''), 'Let me');
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  assert.equal(last.prompt_eval_count, 2); // "Say", " hello"
  assert.equal(last.eval_count, 6); // 2 thinking + 4 output tokens
  assert.ok(last.total_duration > 0 && last.eval_duration >= 0 && last.prompt_eval_duration >= 0);
  assert.ok(!Number.isNaN(Date.parse(last.created_at)));
});

test('non-streamed chat and generate', async () => {
  const res = await ollama.chat({ model, messages: [{ role: 'user', content: 'Say hello' }], stream: false });
  assert.equal(res.message.content, 'Hello world from Runnel');
  assert.equal(res.done_reason, 'stop');
  assert.equal(res.eval_count, 4);

  const gen = await ollama.generate({ model: model + '&tokens=2', prompt: 'Say hello', options: { temperature: 0 }, stream: false });
  assert.equal(gen.response, 'Hello world');
  assert.equal(gen.done_reason, 'stop'); // the mock's tokens knob ends the answer, not a limit
  assert.equal(gen.prompt_eval_count, 2);
  assert.equal(gen.eval_count, 2);
});

test('streamed generate stops at num_predict with done_reason length', async () => {
  const stream = await ollama.generate({ model, prompt: 'Say hello', options: { num_predict: 3 }, stream: true });
  let text = '';
  let last;
  for await (const part of stream) {
    text += part.response;
    last = part;
  }
  assert.equal(text, 'Hello world from');
  assert.equal(last.done_reason, 'length');
  assert.equal(last.eval_count, 3);
});

test('tool calls arrive whole, in Ollama shape', async () => {
  const res = await ollama.chat({
    model: 'mock/default?text=ok&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D',
    messages: [{ role: 'user', content: 'Weather?' }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    stream: false,
  });
  assert.equal(res.message.tool_calls.length, 1);
  assert.equal(res.message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(res.message.tool_calls[0].function.arguments, { city: 'Paris' });
});

test('errors: unknown model, bad request, upstream failure mid-stream', async () => {
  await assert.rejects(
    ollama.chat({ model: 'mock/default?status=404', messages: [{ role: 'user', content: 'hi' }], stream: false }),
    (err) => err.name === 'ResponseError' && err.status_code === 404 && /404 Not Found/.test(err.error),
  );
  await assert.rejects(
    ollama.chat({ model, messages: [{ role: 'robot', content: 'hi' }] }),
    (err) => err.status_code === 400 && /role "robot"/.test(err.error),
  );
  const stream = await ollama.chat({ model: model + '&error_after=2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const seen = [];
  await assert.rejects(async () => {
    for await (const part of stream) seen.push(part.message.content);
  }, /mock/);
  assert.deepEqual(seen, ['Hello', ' world']);
});

test('version and tags', async () => {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
  const tags = await ollama.list();
  assert.ok(Array.isArray(tags.models));
});
