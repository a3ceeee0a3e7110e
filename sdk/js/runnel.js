// Runnel JavaScript SDK: stream LLM output from a Runnel server, in browsers
// and in Node 18+, with nothing but fetch. One ES module, no build step.
//
//   import { Runnel } from "./runnel.js";
//   const rn = new Runnel({ baseURL: "http://127.0.0.1:8080", apiKey });
//   const s = rn.chatStream("stories260K", [{ role: "user", content: "Hi" }]);
//   for await (const chunk of s) process.stdout.write(chunk.text);
//   console.log(s.metrics(), s.usage, s.finishReason);

/** An error answered by the server: status, code and its message. */
export class RunnelError extends Error {
  constructor(message, { status, code, type, param, retryAfter, midStream = false } = {}) {
    super(message);
    this.name = "RunnelError";
    this.status = status;
    this.code = code;
    this.type = type;
    this.param = param;
    this.retryAfter = retryAfter;
    /** True when the error arrived as an event after streaming had begun. */
    this.midStream = midStream;
  }
}

/** The connection failed or was cut: no answer, or an answer that stopped short. */
export class ConnectionError extends RunnelError {
  constructor(message, { cause, midStream = false } = {}) {
    super(message, { code: "connection_error", midStream });
    this.name = "ConnectionError";
    this.cause = cause;
  }
}

/** The caller aborted the request through its AbortSignal or by breaking out of a loop. */
export class AbortError extends RunnelError {
  constructor() {
    super("request aborted", { code: "aborted" });
    this.name = "AbortError";
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); reject(new AbortError()); }, { once: true });
  });

const now = () => (globalThis.performance ? performance.now() : Date.now());

// errorFromBody reads any of the dialects' error shapes: OpenAI's
// {error:{message,type,code,param}}, Anthropic's {type:"error",error:{...}}
// and Ollama's {error:"..."}.
function errorFromBody(body, status, extra = {}) {
  let e = body && typeof body === "object" ? body.error ?? body : undefined;
  if (typeof e === "string") e = { message: e };
  const message = e?.message || (status ? `HTTP ${status}` : "unknown error");
  return new RunnelError(message, { status, code: e?.code ?? e?.type, type: e?.type, param: e?.param, ...extra });
}

async function errorFromResponse(res) {
  const text = await res.text().catch(() => "");
  let body;
  try { body = JSON.parse(text); } catch { body = { error: { message: text.trim() || res.statusText } }; }
  const ra = Number(res.headers.get("retry-after"));
  return errorFromBody(body, res.status, { retryAfter: Number.isFinite(ra) && ra > 0 ? ra : undefined });
}

/**
 * Parses a text/event-stream body into {id, event, data} messages, following
 * the WHATWG rules: LF, CR and CRLF line ends, multi-line data, comments, a
 * leading BOM, and no dispatch of an unterminated last event.
 */
export async function* parseSSE(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", data = [], event = "", id = "", first = true, sawCR = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new AbortError();
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      if (first && buf.length) { if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1); first = false; }
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c !== 10 && c !== 13) { sawCR = false; continue; }
        if (c === 10 && sawCR) { sawCR = false; start = i + 1; continue; } // LF of a CRLF
        sawCR = c === 13;
        const line = buf.slice(start, i);
        start = i + 1;
        if (line === "") {
          if (data.length) yield { id, event: event || "message", data: data.join("\n") };
          data = []; event = "";
          continue;
        }
        if (line[0] === ":") continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val[0] === " ") val = val.slice(1);
        if (field === "data") data.push(val);
        else if (field === "event") event = val;
        else if (field === "id" && !val.includes("\0")) id = val;
      }
      buf = buf.slice(start);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Per-stream client-side metrics, all times in milliseconds. */
class Meter {
  constructor() { this.start = now(); this.first = 0; this.last = 0; this.chunks = 0; this.end = 0; }
  chunk() {
    const t = now();
    if (!this.chunks) this.first = t;
    this.last = t;
    this.chunks++;
  }
  done() { if (!this.end) this.end = now(); }
  snapshot() {
    const end = this.end || now();
    const span = this.chunks > 1 ? this.last - this.first : 0;
    return {
      ttfc: this.chunks ? this.first - this.start : null,
      total: end - this.start,
      chunks: this.chunks,
      chunksPerSecond: span > 0 ? (this.chunks - 1) / (span / 1000) : 0,
      meanChunkGap: this.chunks > 1 ? span / (this.chunks - 1) : 0,
    };
  }
}

/**
 * A running stream. Iterate it with for await; breaking out of the loop or
 * aborting its signal cancels the request on the server (a resumable one
 * with DELETE /api/v1/streams/{id}: the server cannot tell a dropped
 * connection from a stop, and would run it on for its grace period).
 */
class RunnelStream {
  constructor(client, open, decode, signal, resume = 0) {
    this._client = client;
    this._open = open; // (signal, headers) => Promise<Response>
    this._decode = decode; // (msg, stream) => chunk | undefined | "done"
    this._resume = resume; // reconnects allowed
    this._ctl = new AbortController();
    this._meter = new Meter();
    if (signal) {
      if (signal.aborted) this._ctl.abort();
      else signal.addEventListener("abort", () => this._ctl.abort(), { once: true });
    }
    this.usage = undefined;
    this.finishReason = undefined;
    this.provider = undefined;
    this.text = "";
    this.thinking = "";
    this.final = undefined;
    /** Reconnects made so far (resumable streams only). */
    this.reconnects = 0;
  }

  /** Cancels the stream. */
  abort() { this._ctl.abort(); }

  /** TTFC, total, chunks, chunksPerSecond and meanChunkGap, in milliseconds. */
  metrics() { return this._meter.snapshot(); }

  async *[Symbol.asyncIterator]() {
    const signal = this._ctl.signal;
    const headers = this._resume > 0 ? { "Runnel-Resumable": "true" } : {};
    let res = await this._client._send((s) => this._open(s, headers), signal);
    let finished = false;
    let failed = false; // ended by an error, not by the caller: no cancel
    let lastId = ""; // of the last event, across reconnects
    let streamId = ""; // from Runnel-Stream-Id: resumes a stream cut before its first event
    try {
      for (;;) {
        streamId = res.headers.get("runnel-stream-id") || streamId;
        // Only failures to read the body may be resumed: an error the
        // decoder (or a callback) throws is the caller's to see.
        const msgs = parseSSE(res.body, signal);
        let cut = null;
        try {
          for (;;) {
            let step;
            try { step = await msgs.next(); } catch (err) { cut = err; break; }
            if (step.done) break;
            const msg = step.value;
            if (msg.id) lastId = msg.id;
            const out = this._decode(msg, this);
            if (out === "done") { finished = true; return; }
            if (out === undefined) continue;
            if (out.text) {
              this._meter.chunk();
              if (out.channel === "thinking") this.thinking += out.text; else this.text += out.text;
            }
            yield out;
            if (this._done) { finished = true; return; }
          }
        } finally {
          await msgs.return();
        }
        if (signal.aborted) throw new AbortError();
        const why = cut ? `stream interrupted: ${cut.message}` : "stream ended before it was complete";
        // A resumable stream's event ids start "rs_".
        const from = lastId.startsWith("rs_") ? lastId : streamId.startsWith("rs_") ? `${streamId}-0` : "";
        if (this._resume <= 0 || !from) throw new ConnectionError(why, { cause: cut ?? undefined, midStream: true });
        res = await this._reconnect(from, headers, why, cut);
        if (!res) { finished = true; return; } // 204: nothing was missed
      }
    } catch (err) {
      if (signal.aborted) throw new AbortError();
      failed = true;
      if (err instanceof RunnelError) throw err;
      throw new ConnectionError(`stream interrupted: ${err.message}`, { cause: err, midStream: true });
    } finally {
      this._meter.done();
      if (!finished) this._ctl.abort();
      const id = streamId || lastId.replace(/-\d+$/, "");
      if (!finished && !failed && this._resume > 0 && id.startsWith("rs_")) this._client._cancel(id);
    }
  }

  // _reconnect re-sends the request with Last-Event-ID: from, spending the
  // stream's reconnects, with backoff after a failed one. It returns the
  // response that carries on after from, or null for 204 (the stream had
  // already ended there).
  async _reconnect(from, headers, why, cause) {
    const signal = this._ctl.signal;
    for (let failed = 0; ; failed++) {
      if (this.reconnects >= this._resume) {
        const n = this.reconnects;
        throw new ConnectionError(`${why} (gave up after ${n} reconnect${n === 1 ? "" : "s"})`, { cause, midStream: true });
      }
      if (failed) await sleep(backoff(failed - 1), signal);
      this.reconnects++;
      let res;
      try {
        res = await this._open(signal, { ...headers, "Last-Event-ID": from });
      } catch (err) {
        if (signal.aborted) throw new AbortError();
        why = `reconnecting failed: ${err.message}`;
        cause = err;
        continue;
      }
      if (res.status === 204) return null;
      if (res.ok) return res;
      const err = await errorFromResponse(res);
      err.midStream = true;
      if (res.status !== 429 && res.status !== 503) throw err; // 404, 409: not resumable
      why = `reconnecting failed: ${err.message}`;
      cause = err;
    }
  }

  /** Reads the stream to the end and returns the joined output text. */
  async collect() {
    for await (const _ of this) { /* drain */ }
    return this.text;
  }
}

/** Client for a Runnel server. */
export class Runnel {
  /**
   * @param {object} [opts]
   * @param {string} [opts.baseURL] default: the page's origin in a browser, else http://127.0.0.1:8080
   * @param {string} [opts.apiKey] sent as Authorization: Bearer
   * @param {number} [opts.maxRetries] retries before the first token on connection errors, 429 and 503 (default 2)
   * @param {number} [opts.resume] reconnects allowed per stream when a connection breaks mid-stream (default 0: none)
   * @param {typeof fetch} [opts.fetch]
   */
  constructor(opts = {}) {
    const origin = globalThis.location?.origin;
    this.baseURL = (opts.baseURL || (origin && origin !== "null" ? origin : "http://127.0.0.1:8080")).replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
    this.maxRetries = opts.maxRetries ?? 2;
    this.resume = opts.resume ?? 0;
    this._fetch = opts.fetch || globalThis.fetch.bind(globalThis);
  }

  _headers(extra) {
    const h = { "Content-Type": "application/json", ...extra };
    if (this.apiKey) h.Authorization = `Bearer ${this.apiKey}`;
    return h;
  }

  // _cancel asks the server to stop resumable stream id now; fire and
  // forget: at worst the generation runs on for the grace period.
  _cancel(id) {
    const headers = this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {};
    try {
      this._fetch(`${this.baseURL}/api/v1/streams/${encodeURIComponent(id)}`, { method: "DELETE", headers, keepalive: true })
        .then((res) => res.body?.cancel()).catch(() => {});
    } catch { /* a fetch that throws synchronously */ }
  }

  _post(path, body, accept = "text/event-stream") {
    return (signal, headers) => this._fetch(this.baseURL + path, {
      method: "POST", headers: this._headers({ Accept: accept, ...headers }), body: JSON.stringify(body), signal,
    });
  }

  // _stream is a stream of the SSE endpoint path; resume (reconnects
  // allowed) defaults to the client's.
  _stream(path, body, decode, signal, resume = this.resume) {
    return new RunnelStream(this, this._post(path, body), decode, signal, resume);
  }

  // _send opens a request, retrying with backoff on connection errors, 429
  // and 503: these happen before any token, so a retry repeats nothing.
  async _send(open, signal) {
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await open(signal);
      } catch (err) {
        if (signal?.aborted) throw new AbortError();
        if (attempt >= this.maxRetries) throw new ConnectionError(`cannot reach ${this.baseURL}: ${err.message}`, { cause: err });
        await sleep(backoff(attempt), signal);
        continue;
      }
      if (res.ok) return res;
      const err = await errorFromResponse(res);
      if ((res.status === 429 || res.status === 503) && attempt < this.maxRetries) {
        await sleep(err.retryAfter ? err.retryAfter * 1000 : backoff(attempt), signal);
        continue;
      }
      throw err;
    }
  }

  async _json(method, path, body, signal) {
    const open = (s) => this._fetch(this.baseURL + path, {
      method, headers: this._headers({ Accept: "application/json" }), body: body === undefined ? undefined : JSON.stringify(body), signal: s,
    });
    const res = await this._send(open, signal);
    return res.json();
  }

  /** Lists models: [{id, owned_by, ...}]. */
  async models({ signal } = {}) {
    return (await this._json("GET", "/v1/models", undefined, signal)).data;
  }

  /**
   * Streams a chat completion through the OpenAI-compatible API. Yields
   * {text, channel: "output"|"thinking"} and {toolCalls} chunks; usage and
   * finishReason are set on the stream when it ends.
   */
  chatStream(model, messages, { signal, resume, ...parameters } = {}) {
    const body = { model, messages, stream: true, stream_options: { include_usage: true }, ...parameters };
    return this._stream("/v1/chat/completions", body, decodeOpenAI, signal, resume);
  }

  /** Non-streaming chat completion; returns OpenAI's chat.completion object. */
  chat(model, messages, { signal, ...parameters } = {}) {
    return this._json("POST", "/v1/chat/completions", { model, messages, ...parameters }, signal);
  }

  /**
   * Streams the native token stream (/api/v1/inference/stream). Yields
   * {token, text, channel, done, provider}.
   */
  streamPredict(model, { messages, parameters, signal, resume } = {}) {
    const body = { model, messages, parameters };
    return this._stream("/api/v1/inference/stream", body, decodeNative, signal, resume);
  }

  /**
   * Streams typed multi-output generation (/api/v1/generate/stream). Yields
   * {type, name, content, text, channel, index}; the final event (usage,
   * cost, warnings) goes to onComplete and to stream.final.
   */
  generateStream({ serviceName, modelName, input, prompt, parameters, history, onChunk, onThinking, onComplete, signal, resume } = {}) {
    const body = {
      service_name: serviceName, model_name: modelName,
      input: input ?? [{ type: "text", name: "input", content: prompt ?? "" }],
      parameters, history,
    };
    const decode = (msg, s) => {
      const ev = decodeGenerate(msg, s);
      if (ev === "done") onComplete?.(s.final);
      else if (ev?.channel === "thinking") onThinking?.(ev);
      else if (ev) onChunk?.(ev);
      return ev;
    };
    return this._stream("/api/v1/generate/stream", body, decode, signal, resume);
  }

  /** Creates a job for a team: {job_id, ...}. */
  createJob(teamId, jobType, { signal } = {}) {
    return this._json("POST", "/api/jobs/create", { team_id: teamId, job_type: jobType }, signal);
  }

  /** Streams an LLM call inside a job (OpenAI chat chunks); not resumable. */
  jobCallStream(jobId, { messages, model, signal, ...parameters } = {}) {
    const body = { messages, model, ...parameters };
    return this._stream(`/api/jobs/${encodeURIComponent(jobId)}/llm-call-stream`, body, decodeOpenAI, signal, 0);
  }

  /** Completes a job ("completed" or "failed") and returns its costs. */
  completeJob(jobId, status = "completed", { signal } = {}) {
    return this._json("POST", `/api/jobs/${encodeURIComponent(jobId)}/complete`, { status }, signal);
  }

  /** Reads a job: status, calls, usage, cost. */
  getJob(jobId, { signal } = {}) {
    return this._json("GET", `/api/jobs/${encodeURIComponent(jobId)}`, undefined, signal);
  }
}

const backoff = (attempt) => Math.min(4000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);

function parseData(msg) {
  try {
    return JSON.parse(msg.data);
  } catch {
    throw new RunnelError(`malformed event from server: ${msg.data.slice(0, 80)}`, { code: "bad_event", midStream: true });
  }
}

function decodeOpenAI(msg, s) {
  if (msg.data === "[DONE]") return "done";
  const c = parseData(msg);
  if (c.error) throw errorFromBody(c, undefined, { midStream: true });
  if (c.usage) s.usage = c.usage;
  const ch = c.choices?.[0];
  if (!ch) return undefined;
  if (ch.finish_reason) s.finishReason = ch.finish_reason;
  const d = ch.delta || {};
  if (d.reasoning_content) return { text: d.reasoning_content, channel: "thinking" };
  if (d.content) return { text: d.content, channel: "output" };
  if (d.tool_calls) return { toolCalls: d.tool_calls };
  return undefined;
}

function decodeNative(msg, s) {
  const c = parseData(msg);
  if (c.error) throw errorFromBody(c, undefined, { midStream: true });
  if (c.provider) s.provider = c.provider;
  if (c.usage) s.usage = c.usage;
  if (c.finish_reason) s.finishReason = c.finish_reason;
  if (c.done) {
    if (!c.token) return "done";
    s._done = true; // a final event that still carries text
  }
  const channel = c.channel || c.name || "output";
  return { token: c.token, text: c.token, channel, done: !!c.done, provider: c.provider };
}

function decodeGenerate(msg, s) {
  const c = parseData(msg);
  if (c.error) throw errorFromBody(c, undefined, { midStream: true });
  // The typed stream's error item: never output text, never a clean end.
  if (c.type === "error") throw new RunnelError(c.content || "stream failed", { code: c.code, midStream: true });
  if (c.final) {
    s.final = c;
    s.usage = c.usage;
    return "done";
  }
  if (!c.content) return undefined;
  return { ...c, text: c.content, channel: c.name === "thinking" ? "thinking" : "output" };
}

export default Runnel;
