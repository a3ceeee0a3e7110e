// Drives POST /v1/responses of a live `runnel serve` with the official
// `openai` npm package (client.responses.create and .stream) against the
// mock provider, whose output is a pure function of its knobs: the text,
// usage and event order are exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { BadRequestError, NotFoundError } from 'openai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunnel } from './lib/server.mjs';

let srv;
let client;
let modelsDir;

before(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), 'runnel-models-'));
  srv = await startRunnel(['--models-dir', modelsDir]);
  client = new OpenAI({ baseURL: `${srv.baseURL}/v1`, apiKey: 'test-key', maxRetries: 0 });
});

after(async () => {
  await srv?.stop();
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
});

const HELLO = 'mock/default?text=Hello%20world%20from%20Runnel';

// checkSequence asserts what clients rely on: sequence numbers count up
// from 0, and every output_text delta names an item announced before.
function checkSequence(events) {
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i, `sequence_number of event ${i} (${ev.type})`));
  const items = new Set();
  for (const ev of events) {
    if (ev.type === 'response.output_item.added') items.add(ev.item.id);
    if (ev.type === 'response.output_text.delta') assert.ok(items.has(ev.item_id), `delta of unannounced item ${ev.item_id}`);
  }
}

test('responses.create streamed: the event sequence, exact deltas and usage', async () => {
  const stream = await client.responses.create({ model: HELLO, input: 'Say hello', stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  checkSequence(events);
  assert.deepEqual(events.map((e) => e.type), [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
  assert.deepEqual(deltas, ['Hello', ' world', ' from', ' Runnel']);
  assert.equal(events.find((e) => e.type === 'response.output_text.done').text, 'Hello world from Runnel');
  const { response } = events.at(-1);
  assert.equal(response.status, 'completed');
  assert.match(response.id, /^resp_/);
  assert.equal(events[0].response.id, response.id);
  assert.deepEqual(response.usage, {
    input_tokens: 2,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 4,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 6,
  });
  assert.equal(response.output[0].content[0].text, 'Hello world from Runnel');
});

test('responses.create not streamed: a Response with output_text and usage', async () => {
  const response = await client.responses.create({
    model: HELLO,
    instructions: 'Be brief',
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say hello' }] }],
    metadata: { team: 'conformance' },
  });
  assert.equal(response.object, 'response');
  assert.equal(response.status, 'completed');
  assert.equal(response.output_text, 'Hello world from Runnel');
  assert.equal(response.instructions, 'Be brief');
  assert.deepEqual(response.metadata, { team: 'conformance' });
  assert.equal(response.store, false, 'Runnel stores no response');
  assert.equal(response.usage.input_tokens, 4); // "Be brief" and "Say hello"
  assert.equal(response.usage.output_tokens, 4);
  assert.equal(response.usage.total_tokens, 8);
});

test('responses.stream: deltas as they come, reasoning text, and its final response', async () => {
  const deltas = [];
  const reasoning = [];
  const stream = client.responses.stream({ model: 'mock/default?text=Yes%20indeed&think=3', input: 'Think first', reasoning: { effort: 'low' } });
  stream.on('response.output_text.delta', (ev) => deltas.push(ev.delta));
  stream.on('response.reasoning_text.delta', (ev) => reasoning.push(ev.delta));
  const final = await stream.finalResponse();
  assert.deepEqual(deltas, ['Yes', ' indeed']);
  assert.deepEqual(reasoning, ['Let', ' me', ' think']);
  assert.equal(final.output_text, 'Yes indeed');
  assert.deepEqual(final.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(final.output[0].content[0].text, 'Let me think');
  assert.equal(final.usage.output_tokens, 5);
  assert.equal(final.usage.output_tokens_details.reasoning_tokens, 3);
});

test('reasoning.summary streams the thinking as a reasoning summary', async () => {
  const stream = client.responses.stream({
    model: 'mock/default?text=Yes&think=3',
    input: 'Think first',
    reasoning: { effort: 'medium', summary: 'auto' },
  });
  const summary = [];
  stream.on('response.reasoning_summary_text.delta', (ev) => summary.push(ev.delta));
  const final = await stream.finalResponse();
  assert.equal(summary.join(''), 'Let me think');
  assert.deepEqual(final.output[0].summary, [{ type: 'summary_text', text: 'Let me think' }]);
  assert.equal(final.output_text, 'Yes');
});

test('a function call round trip: the call streamed, its output sent back', async () => {
  const tools = [{
    type: 'function',
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    strict: true,
  }];
  const model = 'mock/default?text=Checking&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D';
  const stream = client.responses.stream({ model, input: 'Weather in Paris?', tools });
  const args = [];
  stream.on('response.function_call_arguments.delta', (ev) => args.push(ev.delta));
  const first = await stream.finalResponse();
  const call = first.output.find((o) => o.type === 'function_call');
  assert.ok(call, `no function_call in ${JSON.stringify(first.output)}`);
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  assert.equal(args.join(''), call.arguments);
  assert.equal(call.status, 'completed');
  assert.ok(call.call_id);

  // The earlier output goes back as input, with the call's output; the
  // mock counts every message's tokens, so the output's are in the usage.
  const again = (output) => client.responses.create({
    model: HELLO,
    tools,
    input: [
      { role: 'user', content: 'Weather in Paris?' },
      ...first.output,
      { type: 'function_call_output', call_id: call.call_id, output },
    ],
  });
  const short = await again('sunny');
  const long = await again('sunny and warm');
  assert.equal(short.output_text, 'Hello world from Runnel');
  assert.equal(long.usage.input_tokens - short.usage.input_tokens, 2);
});

test('max_output_tokens ends with response.incomplete', async () => {
  const stream = await client.responses.create({ model: HELLO, input: 'hi', max_output_tokens: 2, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  checkSequence(events);
  const last = events.at(-1);
  assert.equal(last.type, 'response.incomplete');
  assert.equal(last.response.status, 'incomplete');
  assert.deepEqual(last.response.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(last.response.output[0].content[0].text, 'Hello world');
  assert.equal(last.response.usage.output_tokens, 2);
});

test('an upstream fault mid-stream: an error event, then response.failed', async () => {
  const stream = await client.responses.create({ model: 'mock/default?tokens=10&error_after=2', input: 'hi', stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  checkSequence(events);
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
  assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 2);
  const err = events.at(-2);
  assert.equal(err.code, 'upstream_error');
  assert.ok(err.message);
  assert.equal(events.at(-1).response.status, 'failed');
  assert.equal(events.at(-1).response.error.code, 'upstream_error');
});

test('bad input and stateful features are 400s naming the field', async () => {
  const cases = [
    [{ model: HELLO, input: [{ role: 'robot', content: 'x' }] }, 'input[0].role'],
    [{ model: HELLO, input: 'hi', previous_response_id: 'resp_123' }, 'previous_response_id'],
    [{ model: HELLO, input: 'hi', background: true }, 'background'],
    [{ model: HELLO, input: 'hi', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ model: HELLO, input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(client.responses.create(body), (err) => {
      assert.ok(err instanceof BadRequestError, `${param}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.param, param);
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  }
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'hi', stream: true }), (err) => {
    assert.ok(err instanceof NotFoundError, String(err));
    assert.equal(err.param, 'model');
    return true;
  });
});

test('store: true (the clients\' default) is served, not stored', async () => {
  const response = await client.responses.create({ model: HELLO, input: 'hi', store: true });
  assert.equal(response.output_text, 'Hello world from Runnel');
  assert.equal(response.store, false);
});
