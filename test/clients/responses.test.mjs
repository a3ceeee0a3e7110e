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
  assert.equal(response.store, true, 'stored, as OpenAI does by default');
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

test('bad input and stateful features are 400s naming the field; unknown stored ids 404s', async () => {
  const cases = [
    [{ model: HELLO, input: [{ role: 'robot', content: 'x' }] }, 'input[0].role'],
    [{ model: HELLO, input: 'hi', background: true }, 'background'],
    [{ model: HELLO, input: 'hi', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
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
  for (const [body, param] of [
    [{ model: HELLO, input: 'hi', previous_response_id: 'resp_123' }, 'previous_response_id'],
    [{ model: HELLO, input: [{ type: 'item_reference', id: 'msg_1_0' }] }, 'input[0].id'],
  ]) {
    await assert.rejects(client.responses.create(body), (err) => {
      assert.ok(err instanceof NotFoundError, `${param}: ${err}`);
      assert.equal(err.param, param);
      return true;
    });
  }
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'hi', stream: true }), (err) => {
    assert.ok(err instanceof NotFoundError, String(err));
    assert.equal(err.param, 'model');
    return true;
  });
});

test('previous_response_id chains two turns: the second call\'s context is the first\'s, read back, listed and deleted', async () => {
  // The mock's usage counts every token it was sent: the chained call's
  // input is the first call's input (without its instructions, which are
  // not carried over) and output, then its own.
  const alone = async (input) => (await client.responses.create({ model: HELLO, input, store: false })).usage.input_tokens;
  const first = await client.responses.create({ model: HELLO, instructions: 'Be brief', input: 'Say hello' });
  assert.equal(first.store, true);
  assert.equal(first.usage.input_tokens, 2 + (await alone('Say hello')), 'with "Be brief"');
  const stream = await client.responses.create({ model: HELLO, previous_response_id: first.id, input: 'And once more?', stream: true });
  let second;
  for await (const ev of stream) if (ev.type === 'response.completed') second = ev.response;
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.instructions, null);
  assert.equal(second.usage.input_tokens, (await alone('Say hello')) + first.usage.output_tokens + (await alone('And once more?')));

  // Both are stored: the second as its stream ended, with its context.
  // (retrieve adds output_text, a convenience of the package's own)
  const { output_text: _, ...retrieved } = await client.responses.retrieve(second.id);
  assert.deepEqual(retrieved, second);
  const items = [];
  for await (const item of client.responses.inputItems.list(second.id, { order: 'asc' })) items.push(item);
  assert.deepEqual(items.map((i) => [i.type, i.role, i.content[0].text]), [
    ['message', 'user', 'Say hello'],
    ['message', 'assistant', 'Hello world from Runnel'],
    ['message', 'user', 'And once more?'],
  ]);
  assert.equal(items[1].id, first.output[0].id);

  // A third turn chains from the second.
  const third = await client.responses.create({ model: HELLO, previous_response_id: second.id, input: 'Bye' });
  assert.equal(third.usage.input_tokens, second.usage.input_tokens + second.usage.output_tokens + (await alone('Bye')));

  await client.responses.delete(first.id);
  await assert.rejects(client.responses.retrieve(first.id), NotFoundError);
  await assert.rejects(client.responses.create({ model: HELLO, previous_response_id: first.id, input: 'hi' }), (err) => {
    assert.ok(err instanceof NotFoundError, String(err));
    assert.equal(err.param, 'previous_response_id');
    assert.match(err.message, new RegExp(first.id));
    return true;
  });
  // The second keeps its own copy of the context.
  assert.equal((await client.responses.retrieve(second.id)).id, second.id);
});

test('store: false keeps nothing', async () => {
  const response = await client.responses.create({ model: HELLO, input: 'hi', store: false });
  assert.equal(response.output_text, 'Hello world from Runnel');
  assert.equal(response.store, false);
  await assert.rejects(client.responses.retrieve(response.id), NotFoundError);
});
