import { Runnel, RunnelError, AbortError } from "/sdk/runnel.js";
import { renderMarkdown } from "./markdown.js";

const $ = (id) => document.getElementById(id);
const log = $("log"), form = $("form"), prompt = $("prompt"), modelSel = $("model"), keyInput = $("apikey");
const sendBtn = $("send"), stopBtn = $("stop"), ttftEl = $("ttft"), tpsEl = $("tps"), statusEl = $("status");

// The key stays in this browser: localStorage, sent only to this server.
keyInput.value = localStorage.getItem("runnel.apiKey") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("runnel.apiKey", keyInput.value); loadModels(); });

// Replies are resumable: on a flaky connection the SDK reconnects (up to 3
// times) and the reply carries on where it broke off.
const client = () => new Runnel({ baseURL: location.origin, apiKey: keyInput.value || undefined, resume: 3 });
let history = [];
let current = null; // the running stream

function addMessage(cls, html) {
  const div = document.createElement("div");
  div.className = `msg ${cls}`;
  if (html !== undefined) div.innerHTML = html;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function showError(err) {
  const what = err instanceof RunnelError && err.status ? `Error ${err.status}: ` : "Error: ";
  const div = addMessage("error");
  div.setAttribute("role", "alert");
  div.textContent = what + (err.message || String(err));
  statusEl.textContent = "error";
}

// streamable keeps the models the page can stream: not those that answer
// only whole responses, nor the same model again behind a proxying
// provider ("openai/mock/default" when "mock/default" is listed).
function streamable(models) {
  const ids = new Set(models.map((m) => m.id));
  return models.filter((m) => {
    if (m.no_stream) return false;
    const rest = m.id.slice(m.id.indexOf("/") + 1);
    return !(rest !== m.id && rest.includes("/") && ids.has(rest));
  });
}

async function loadModels() {
  try {
    const models = streamable(await client().models());
    const keep = modelSel.value || localStorage.getItem("runnel.model");
    modelSel.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
    if (keep && models.some((m) => m.id === keep)) modelSel.value = keep;
  } catch (err) {
    showError(err);
  }
}
modelSel.addEventListener("change", () => localStorage.setItem("runnel.model", modelSel.value));

$("clear").addEventListener("click", () => { history = []; log.replaceChildren(); });
prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
stopBtn.addEventListener("click", () => current?.abort());

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = prompt.value.trim();
  if (!text || current) return;
  prompt.value = "";
  addMessage("user").textContent = text;
  history.push({ role: "user", content: text });

  const reply = addMessage("assistant");
  const details = document.createElement("details");
  details.innerHTML = "<summary>Thinking</summary><div class=thinking></div>";
  details.hidden = true;
  const thinkingEl = details.querySelector(".thinking");
  const body = document.createElement("div");
  body.className = "content";
  reply.append(details, body);

  const s = client().chatStream(modelSel.value, history);
  current = s;
  sendBtn.disabled = true; stopBtn.disabled = false;
  statusEl.textContent = "streaming"; ttftEl.textContent = "TTFT –"; tpsEl.textContent = "– tok/s";
  const stats = () => {
    const m = s.metrics();
    if (m.ttfc != null) ttftEl.textContent = `TTFT ${m.ttfc.toFixed(0)} ms`;
    if (m.chunksPerSecond) tpsEl.textContent = `${m.chunksPerSecond.toFixed(1)} tok/s`;
  };
  try {
    for await (const chunk of s) {
      if (chunk.channel === "thinking") { details.hidden = false; thinkingEl.textContent = s.thinking; }
      else if (chunk.text) body.innerHTML = renderMarkdown(s.text);
      stats();
      if (s.reconnects) statusEl.textContent = `streaming (reconnected ${s.reconnects}×)`;
      log.scrollTop = log.scrollHeight;
    }
    history.push({ role: "assistant", content: s.text });
    statusEl.textContent = s.finishReason ? `done (${s.finishReason})` : "done";
    if (!s.text) body.innerHTML = "<em>(empty reply)</em>";
  } catch (err) {
    if (err instanceof AbortError) {
      statusEl.textContent = "stopped";
      history.push({ role: "assistant", content: s.text });
    } else {
      showError(err);
    }
  } finally {
    stats();
    current = null;
    sendBtn.disabled = false; stopBtn.disabled = true;
    prompt.focus();
  }
});

loadModels();
