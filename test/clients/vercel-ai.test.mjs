// Drives a live `runnel serve` with the Vercel AI SDK against the mock
// provider, whose output is a pure function of its knobs: the text, usage
// and finish are exact. Two providers, two endpoints: `@ai-sdk/openai-
// compatible` speaks /v1/chat/completions, and `@ai-sdk/openai`'s default
// `openai(model)` the Responses API (/v1/responses).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { streamText, generateText, jsonSchema, tool, stepCountIs, APICallError } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunnel } from './lib/server.mjs';

let srv;
let provider;
let openai;
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
  openai = createOpenAI({ baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key' });
});

after(async () => {
  await srv?.stop();
  if (models) await rm(models, { recursive: true, force: true });
});

// The endpoints and how a model name becomes each one's language model.
const endpoints = {
  'chat completions': (model) => provider.chatModel(model),
  responses: (model) => openai(model),
};

// run streams model through endpoint and gathers every part of the full
// stream.
async function run(endpoint, model, opts = {}) {
  const errors = [];
  const result = streamText({
    model: endpoints[endpoint](model),
    prompt: 'Say hello',
    maxRetries: 0,
    onError: ({ error }) => errors.push(error),
    ...opts,
  });
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  return { result, parts, errors };
}

for (const endpoint of Object.keys(endpoints)) {
  test(`${endpoint}: streamText: exact text deltas, usage and finish reason`, async () => {
    const { result, parts, errors } = await run(endpoint, 'mock/default?text=Hello%20world%20from%20Runnel');
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

  test(`${endpoint}: streamText: max tokens finishes with length`, async () => {
    const { result } = await run(endpoint, 'mock/default?text=Hello%20world%20from%20Runnel', { maxOutputTokens: 2 });
    assert.equal(await result.text, 'Hello world');
    assert.equal(await result.finishReason, 'length');
    assert.equal((await result.usage).outputTokens, 2);
  });

  test(`${endpoint}: streamText: unknown model is an APICallError carrying the server message`, async () => {
    const { parts, errors } = await run(endpoint, 'nosuchprovider/nosuchmodel');
    const err = parts.find((p) => p.type === 'error')?.error;
    assert.ok(APICallError.isInstance(err), `want APICallError, got ${err}`);
    assert.equal(err.statusCode, 404);
    assert.match(err.message, /nosuchprovider\/nosuchmodel/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0], err);
  });

  test(`${endpoint}: streamText: an upstream failure mid-stream surfaces as an error after the tokens so far`, async () => {
    const { result, parts, errors } = await run(endpoint, 'mock/default?text=Hello%20world%20from%20Runnel&error_after=2');
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
}

test('chat completions: streamText: reasoning arrives as reasoning parts, apart from the text', async () => {
  const { result, parts } = await run('chat completions', 'mock/default?text=Yes&think=3');
  assert.equal(await result.text, 'Yes');
  const reasoning = parts.filter((p) => p.type === 'reasoning-delta').map((p) => p.text).join('');
  assert.equal(reasoning, 'Let me think');
  assert.equal(await result.finishReason, 'stop');
});

test('responses: streamText: reasoning summaries arrive as reasoning parts, apart from the text', async () => {
  const { result, parts, errors } = await run('responses', 'mock/default?text=Yes&think=3', {
    providerOptions: { openai: { forceReasoning: true, reasoningEffort: 'low', reasoningSummary: 'auto', store: false } },
  });
  assert.deepEqual(errors, []);
  assert.equal(await result.text, 'Yes');
  const reasoning = parts.filter((p) => p.type === 'reasoning-delta').map((p) => p.text).join('');
  assert.equal(reasoning, 'Let me think');
  assert.equal((await result.usage).outputTokenDetails.reasoningTokens, 3);
});

test('responses: streamText with a tool: the call, and a second step with its result', async () => {
  const calls = [];
  const weather = tool({
    description: 'Weather in a city',
    inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
    execute: async ({ city }) => {
      calls.push(city);
      return `sunny in ${city}`;
    },
  });
  // The mock calls the tool on every step; two steps are one round trip.
  // With the SDK's default store: true, the second step sends references
  // to the first step's stored items rather than the items themselves.
  const { result, parts, errors } = await run('responses', 'mock/default?text=Checking&tool=weather&tool_args=%7B%22city%22%3A%22Paris%22%7D', {
    tools: { weather },
    stopWhen: stepCountIs(2),
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(calls, ['Paris', 'Paris']);
  const toolCalls = parts.filter((p) => p.type === 'tool-call');
  assert.equal(toolCalls.length, 2);
  assert.equal(toolCalls[0].toolName, 'weather');
  assert.deepEqual(toolCalls[0].input, { city: 'Paris' });
  const steps = await result.steps;
  assert.equal(steps.length, 2);
  assert.equal(steps[0].finishReason, 'tool-calls');
  // The second step's input refers to the first step's message (the
  // executed call and its result are sent whole).
  const body = steps[1].request.body;
  const sent = typeof body === 'string' ? JSON.parse(body) : body;
  const types = sent.input.map((i) => i.type ?? i.role);
  assert.ok(types.includes('item_reference') && types.includes('function_call_output'), JSON.stringify(sent.input));
  // What reached the provider is the whole context, the reference
  // resolved: the prompt, the first step's text ("Checking": one token, as
  // the mock counts) and the tool's result ("sunny in Paris": three).
  // Unresolved, the text would be missing.
  assert.equal(steps[1].usage.inputTokens, steps[0].usage.inputTokens + 1 + 3);
  // The references name items of the first step's stored response.
  const refs = sent.input.filter((i) => i.type === 'item_reference').map((i) => i.id);
  const first = await fetch(`${srv.baseURL}/v1/responses/${steps[0].response.id}`, { headers: { authorization: 'Bearer test-key' } }).then((r) => r.json());
  assert.deepEqual(refs, [first.output.find((o) => o.type === 'message').id]);
});

test('responses: generateText: the whole response', async () => {
  const { text, usage, finishReason, response } = await generateText({
    model: openai('mock/default?text=Hello%20world%20from%20Runnel'),
    prompt: 'Say hello',
    maxRetries: 0,
  });
  assert.equal(text, 'Hello world from Runnel');
  assert.equal(finishReason, 'stop');
  assert.equal(usage.outputTokens, 4);
  assert.match(response.id, /^resp_/);
});
