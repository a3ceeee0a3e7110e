// Drives a live `runnel serve` with the Vercel AI SDK (`ai`'s streamText over
// `@ai-sdk/openai-compatible`, which speaks /v1/chat/completions) against the
// mock provider, whose output is a pure function of its knobs: the text,
// usage and finish are exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { streamText, APICallError } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunnel } from './lib/server.mjs';

let srv;
let provider;
let models;

before(async () => {
  // An empty models directory makes the built-in engine the default
  // provider, so a name no provider knows is a 404, not a mock stream.
  models = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', models]);
  provider = createOpenAICompatible({
    name: 'runnel',
    baseURL: `${srv.baseURL}/v1`,
    apiKey: 'test-key',
    includeUsage: true, // sends stream_options.include_usage
  });
});

after(async () => {
  await srv?.stop();
  if (models) await rm(models, { recursive: true, force: true });
});

// run streams model and gathers every part of the full stream.
async function run(model, opts = {}) {
  const errors = [];
  const result = streamText({
    model: provider.chatModel(model),
    prompt: 'Say hello',
    maxRetries: 0,
    onError: ({ error }) => errors.push(error),
    ...opts,
  });
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  return { result, parts, errors };
}

test('streamText: exact text deltas, usage and finish reason', async () => {
  const { result, parts, errors } = await run('mock/default?text=Hello%20world%20from%20Runnel');
  assert.deepEqual(errors, []);
  const deltas = parts.filter((p) => p.type === 'text-delta').map((p) => p.text);
  assert.deepEqual(deltas, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(await result.text, 'Hello world from Runnel');
  assert.equal(await result.finishReason, 'stop');
  const usage = await result.usage;
  assert.equal(usage.inputTokens, 2);
  assert.equal(usage.outputTokens, 4);
  assert.equal(usage.totalTokens, 6);
  const finish = parts.find((p) => p.type === 'finish');
  assert.equal(finish.finishReason, 'stop');
  assert.equal(finish.totalUsage.outputTokens, 4);
  assert.ok(!parts.some((p) => p.type === 'error'));
});

test('streamText: max tokens finishes with length', async () => {
  const { result } = await run('mock/default?text=Hello%20world%20from%20Runnel', { maxOutputTokens: 2 });
  assert.equal(await result.text, 'Hello world');
  assert.equal(await result.finishReason, 'length');
  assert.equal((await result.usage).outputTokens, 2);
});

test('streamText: reasoning arrives as reasoning parts, apart from the text', async () => {
  const { result, parts } = await run('mock/default?text=Yes&think=3');
  assert.equal(await result.text, 'Yes');
  const reasoning = parts.filter((p) => p.type === 'reasoning-delta').map((p) => p.text).join('');
  assert.equal(reasoning, 'Let me think');
  assert.equal(await result.finishReason, 'stop');
});

test('streamText: unknown model is an APICallError carrying the server message', async () => {
  const { parts, errors } = await run('nosuchprovider/nosuchmodel');
  const err = parts.find((p) => p.type === 'error')?.error;
  assert.ok(APICallError.isInstance(err), `want APICallError, got ${err}`);
  assert.equal(err.statusCode, 404);
  assert.match(err.message, /nosuchprovider\/nosuchmodel/);
  assert.equal(errors.length, 1);
  assert.equal(errors[0], err);
});

test('streamText: an upstream failure mid-stream surfaces as an error after the tokens so far', async () => {
  const { result, parts, errors } = await run('mock/default?text=Hello%20world%20from%20Runnel&error_after=2');
  const deltas = parts.filter((p) => p.type === 'text-delta').map((p) => p.text);
  assert.deepEqual(deltas, ['Hello', ' world']);
  assert.equal(errors.length, 1);
  const errIndex = parts.findIndex((p) => p.type === 'error');
  assert.ok(errIndex > parts.findLastIndex((p) => p.type === 'text-delta'), 'error after the text');
  assert.equal(parts[errIndex].error.code, 'upstream_error');
  assert.match(parts[errIndex].error.message, /injected upstream error after 2 tokens/);
  assert.equal(errors[0], parts[errIndex].error);
  assert.equal(await result.finishReason, 'error');
});
