// Token logprobs through Runnel with the official `openai` npm package:
// logprobs and top_logprobs must reach an OpenAI-compatible upstream, its
// per-token logprobs must come back on the chunks (joined on a non-streamed
// answer), and a provider that cannot report them (the built-in engine)
// must refuse with an OpenAI-shaped 400 rather than answer without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import { startBehindRunnel } from './lib/upstream.mjs';

// What the fake upstream sends for each token: its text and its logprobs
// entry, with the two most likely alternatives.
const tokens = ['Hello', ' world', '!'].map((token, i) => {
  const bytes = [...Buffer.from(token)];
  const logprob = -0.25 * (i + 1);
  return {
    token,
    entry: {
      token, logprob, bytes,
      top_logprobs: [{ token, logprob, bytes }, { token: '?', logprob: logprob - 3, bytes: [63] }],
    },
  };
});

let env; // { srv, client, bodies, stop }
let client;
let bodies;

before(async () => {
  env = await startBehindRunnel(() => {
    const chunk = (choice) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-x', choices: [{ index: 0, ...choice }] })}\n\n`;
    let out = chunk({ delta: { role: 'assistant', content: '' }, logprobs: { content: [], refusal: null }, finish_reason: null });
    for (const t of tokens) {
      out += chunk({ delta: { content: t.token }, logprobs: { content: [t.entry], refusal: null }, finish_reason: null });
    }
    out += chunk({ delta: {}, logprobs: null, finish_reason: 'stop' });
    return `${out}data: [DONE]\n\n`;
  });
  ({ client, bodies } = env);
});

after(async () => { await env?.stop(); });

test('streamed chunks carry the upstream logprobs, top_logprobs forwarded', async () => {
  bodies.length = 0;
  const stream = await client.chat.completions.create({
    model: 'openai/gpt-x',
    messages: [{ role: 'user', content: 'Hi' }],
    logprobs: true,
    top_logprobs: 2,
    stream: true,
  });
  let text = '';
  const entries = [];
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta?.content ?? '';
    if (choice.delta?.content) {
      assert.ok(choice.logprobs, `a token chunk without logprobs: ${JSON.stringify(chunk)}`);
      assert.equal(choice.logprobs.refusal, null);
      entries.push(...choice.logprobs.content);
    }
  }
  assert.equal(text, 'Hello world!');
  assert.deepEqual(entries, tokens.map((t) => t.entry));

  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].path, '/v1/chat/completions');
  assert.equal(bodies[0].body.logprobs, true);
  assert.equal(bodies[0].body.top_logprobs, 2);
});

test('a non-streamed answer joins the logprobs of its tokens', async () => {
  const whole = await client.chat.completions.create({
    model: 'openai/gpt-x',
    messages: [{ role: 'user', content: 'Hi' }],
    logprobs: true,
  });
  assert.equal(whole.choices[0].message.content, 'Hello world!');
  assert.deepEqual(whole.choices[0].logprobs, { content: tokens.map((t) => t.entry), refusal: null });
});

test('the engine refuses logprobs with a 400 naming it, and calls no upstream', async () => {
  bodies.length = 0;
  for (const stream of [true, false]) {
    await assert.rejects(
      client.chat.completions.create({
        model: 'stories260K',
        messages: [{ role: 'user', content: 'Hi' }],
        logprobs: true,
        top_logprobs: 2,
        stream,
      }),
      (err) => {
        assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 400);
        assert.equal(err.param, 'logprobs');
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.error.message, 'logprobs is not supported by provider engine: it does not report token log probabilities');
        return true;
      },
    );
  }
  assert.equal(bodies.length, 0);
});

test('top_logprobs without logprobs is a 400 naming top_logprobs', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'openai/gpt-x', messages: [{ role: 'user', content: 'Hi' }], top_logprobs: 2 }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.param, 'top_logprobs');
      return true;
    },
  );
});
