// Drives a live `runnel serve` with LangChain's ChatOpenAI
// (`@langchain/openai`, pointed at Runnel by configuration.baseURL) and its
// .stream(), against the mock provider, whose output is a pure function of
// its knobs: the text, usage and finish are exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatOpenAI } from '@langchain/openai';
import { startRunnel } from './lib/server.mjs';

let srv;
let models;

before(async () => {
  // An empty models directory makes the built-in engine the default
  // provider, so a name no provider knows is a 404, not a mock stream.
  models = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', models]);
});

after(async () => {
  await srv?.stop();
  if (models) await rm(models, { recursive: true, force: true });
});

function chat(model, fields = {}) {
  return new ChatOpenAI({
    model,
    apiKey: 'test-key',
    maxRetries: 0,
    streamUsage: true, // asks for stream_options.include_usage
    configuration: { baseURL: `${srv.baseURL}/v1` },
    ...fields,
  });
}

// run streams the model's answer to prompt, returning every chunk and
// their concatenation (LangChain's own way to merge a stream).
async function run(model, fields) {
  const chunks = [];
  let merged;
  for await (const chunk of await chat(model, fields).stream('Say hello')) {
    chunks.push(chunk);
    merged = merged ? merged.concat(chunk) : chunk;
  }
  return { chunks, merged };
}

test('ChatOpenAI.stream: exact chunks, joined text, usage and finish reason', async () => {
  const { chunks, merged } = await run('mock/default?text=Hello%20world%20from%20Runnel');
  assert.deepEqual(chunks.map((c) => c.content).filter((s) => s !== ''), ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(merged.content, 'Hello world from Runnel');
  assert.equal(merged.response_metadata.finish_reason, 'stop');
  assert.equal(merged.response_metadata.model_name, 'mock/default?text=Hello%20world%20from%20Runnel');
  const { input_tokens, output_tokens, total_tokens } = merged.usage_metadata;
  assert.deepEqual({ input_tokens, output_tokens, total_tokens }, { input_tokens: 2, output_tokens: 4, total_tokens: 6 });
  // Usage arrives once, on its own chunk, not summed over every chunk.
  assert.equal(chunks.filter((c) => c.usage_metadata).length, 1);
});

test('ChatOpenAI.stream: maxTokens finishes with length', async () => {
  const { merged } = await run('mock/default?text=Hello%20world%20from%20Runnel', { maxTokens: 2 });
  assert.equal(merged.content, 'Hello world');
  assert.equal(merged.response_metadata.finish_reason, 'length');
  assert.equal(merged.usage_metadata.output_tokens, 2);
});

test('ChatOpenAI.invoke (not streamed): text, usage and finish reason', async () => {
  const msg = await chat('mock/default?text=Hello%20world%20from%20Runnel', { maxTokens: 3 }).invoke('Say hello');
  assert.equal(msg.content, 'Hello world from');
  assert.equal(msg.response_metadata.finish_reason, 'length');
  const { input_tokens, output_tokens, total_tokens } = msg.usage_metadata;
  assert.deepEqual({ input_tokens, output_tokens, total_tokens }, { input_tokens: 2, output_tokens: 3, total_tokens: 5 });
});

test('ChatOpenAI.stream: reasoning goes to additional_kwargs.reasoning_content', async () => {
  const { merged } = await run('mock/default?text=Yes&think=3');
  assert.equal(merged.content, 'Yes');
  assert.equal(merged.additional_kwargs.reasoning_content, 'Let me think');
  assert.equal(merged.response_metadata.finish_reason, 'stop');
  assert.equal(merged.usage_metadata.output_tokens, 4);
});

test('ChatOpenAI.stream: unknown model rejects with a 404 carrying the server message', async () => {
  await assert.rejects(run('nosuchprovider/nosuchmodel'), (err) => {
    assert.equal(err.status, 404, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.code, 'model_not_found');
    assert.match(err.message, /nosuchprovider\/nosuchmodel/);
    return true;
  });
});

test('ChatOpenAI.stream: an upstream failure mid-stream rejects after the tokens so far', async () => {
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const chunk of await chat('mock/default?text=Hello%20world%20from%20Runnel&error_after=2').stream('Say hello')) {
        seen.push(chunk.content);
      }
    })(),
    (err) => {
      assert.equal(err.code, 'upstream_error', `got ${err?.constructor?.name}: ${err}`);
      assert.match(err.message, /injected upstream error after 2 tokens/);
      return true;
    },
  );
  assert.deepEqual(seen, ['Hello', ' world']);
});
