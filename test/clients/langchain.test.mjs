// @langchain/openai's ChatOpenAI streaming from /v1/chat/completions of a
// live `runnel serve`, against the mock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { startRunnel } from './lib/server.mjs';

let srv;

before(async () => {
  srv = await startRunnel();
});

after(async () => {
  await srv?.stop();
});

const chat = (model, extra = {}) => new ChatOpenAI({
  model, apiKey: 'test-key', configuration: { baseURL: `${srv.baseURL}/v1` }, streamUsage: true, maxRetries: 0, ...extra,
});

test('stream: exact chunks, usage metadata and finish reason', async () => {
  const stream = await chat('mock/default?text=Hello%20world%20from%20Runnel').stream('Say hello');
  const parts = [];
  let usage;
  let finish;
  for await (const chunk of stream) {
    if (chunk.content) parts.push(chunk.content);
    if (chunk.usage_metadata) usage = chunk.usage_metadata;
    if (chunk.response_metadata?.finish_reason) finish = chunk.response_metadata.finish_reason;
  }
  assert.deepEqual(parts, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(usage.input_tokens, 2);
  assert.equal(usage.output_tokens, 4);
  assert.equal(usage.total_tokens, 6);
  assert.equal(finish, 'stop');
});

test('invoke and an error case', async () => {
  const msg = await chat('mock/default?text=Hello%20world%20from%20Runnel', { maxTokens: 3 }).invoke('Say hello');
  assert.equal(msg.content, 'Hello world from');
  assert.equal(msg.response_metadata.finish_reason, 'length');
  await assert.rejects(chat('mock/default?status=404').invoke('hi'), (err) => err.status === 404 || /404/.test(err.message));
});
