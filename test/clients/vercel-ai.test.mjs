// The Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`) streaming from
// /v1/chat/completions of a live `runnel serve`, against the mock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { streamText } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { startRunnel } from './lib/server.mjs';

let srv;
let runnel;

before(async () => {
  srv = await startRunnel();
  runnel = createOpenAICompatible({ name: 'runnel', baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key', includeUsage: true });
});

after(async () => {
  await srv?.stop();
});

test('streamText: exact text, usage and finish reason', async () => {
  const result = streamText({ model: runnel('mock/default?text=Hello%20world%20from%20Runnel'), prompt: 'Say hello', maxRetries: 0 });
  const parts = [];
  for await (const t of result.textStream) parts.push(t);
  assert.equal(parts.join(''), 'Hello world from Runnel');
  assert.equal(await result.finishReason, 'stop');
  const usage = await result.usage;
  assert.equal(usage.inputTokens, 2);
  assert.equal(usage.outputTokens, 4);
  assert.equal(usage.totalTokens, 6);
});

test('streamText: max output tokens gives finish reason length', async () => {
  const result = streamText({ model: runnel('mock/default?text=Hello%20world%20from%20Runnel'), prompt: 'Say hello', maxOutputTokens: 2, maxRetries: 0 });
  assert.equal(await result.text, 'Hello world');
  assert.equal(await result.finishReason, 'length');
});

test('streamText: unknown model surfaces a 404 error part', async () => {
  const result = streamText({ model: runnel('mock/default?status=404'), prompt: 'hi', maxRetries: 0, onError: () => {} });
  const errors = [];
  for await (const part of result.fullStream) {
    if (part.type === 'error') errors.push(part.error);
  }
  assert.equal(errors.length, 1);
  assert.equal(errors[0].statusCode, 404);
});
