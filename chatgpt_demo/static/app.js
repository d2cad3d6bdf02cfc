// The chat page: streams a reply token by token from POST /api/chat ("stream": true),
// which answers with server-sent events: "start", then one "token" per step
// ({id, text, candidates: [{text, p}]}), then "done" ({reply, finish_reason, ...}).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  model: null,        // the chat model's description from /api/models
  history: [],        // [{role, content}] of finished turns
  steps: [],          // the current reply's tokens and candidates
  selected: -1,       // the step shown in the candidates panel (-1: the latest)
  controller: null,   // AbortController of the running stream
};

// -- small helpers --

function showToast(message) {
  const toast = $("toast");
  toast.textContent = message;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, 5000);
}

// How a token looks on its own: spaces and newlines made visible.
function visible(text) {
  if (text === "") return "∅";
  return text.replace(/ /g, "␣").replace(/\n/g, "↵");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch (e) {
    return response.statusText;
  }
}

// -- settings --

const sliders = [["temperature", (v) => v.toFixed(2)], ["top-k", String], ["max-new-tokens", String]];
for (const [id, format] of sliders) {
  const input = $(id);
  const show = () => { $(id + "-out").textContent = format(Number(input.value)); };
  input.addEventListener("input", show);
  show();
}

function speaker() {
  const name = $("speaker").value.trim().toUpperCase().replace(/\s+/g, " ");
  return name || (state.model && state.model.chat.user_speaker) || "HORATIO";
}
$("speaker").addEventListener("input", () => { $("hint-speaker").textContent = speaker(); });

async function loadModels() {
  try {
    const response = await fetch("/api/models");
    const body = await response.json();
    const chat = body.models.find((m) => m.kind === "generator" && m.chat);
    if (!chat) throw new Error("no chat model is served");
    state.model = chat;
    const persona = chat.chat.persona;
    const title = persona.charAt(0) + persona.slice(1).toLowerCase();
    $("persona-title").textContent = title;
    $("hint-persona").textContent = persona;
    $("speaker").value = chat.chat.user_speaker;
    $("hint-speaker").textContent = chat.chat.user_speaker;
    $("input").placeholder = `Say something to ${title}…`;
    $("model-line").textContent =
      `${chat.name} · SavedModel v${chat.version} · ${chat.context}-character context`;
    const most = Math.min(body.limits.max_new_tokens, chat.context - 1);
    $("max-new-tokens").max = String(most);
    for (const [id, key] of [["temperature", "temperature"], ["top-k", "top_k"], ["max-new-tokens", "max_new_tokens"]]) {
      if (chat.defaults[key] !== undefined) {
        $(id).value = String(Math.min(chat.defaults[key], Number($(id).max)));
        $(id).dispatchEvent(new Event("input"));
      }
    }
  } catch (error) {
    $("model-line").textContent = "could not load the models";
    showToast(`Could not load the models: ${error.message}`);
  }
}

// -- messages --

function addMessage(role, text, who) {
  $("hint").hidden = true;
  const message = el("div", `msg ${role}`);
  message.append(el("div", "who", who), el("div", "bubble", text));
  $("messages").append(message);
  scrollDown();
  return message;
}

function scrollDown() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

// -- the candidates panel --

function renderStrip() {
  const strip = $("strip");
  strip.replaceChildren();
  const shown = state.selected < 0 ? state.steps.length - 1 : state.selected;
  state.steps.forEach((step, i) => {
    const token = el("button", "tok", visible(step.text));
    if (/^\s*$/.test(step.text)) token.classList.add("ws");
    if (i === shown) token.classList.add("sel");
    token.type = "button";
    token.title = `step ${i + 1}`;
    token.addEventListener("click", () => { state.selected = i; renderStrip(); renderBars(); });
    strip.append(token);
  });
  if (state.selected < 0) strip.scrollTop = strip.scrollHeight;
}

function renderBars() {
  const bars = $("bars");
  bars.replaceChildren();
  const index = state.selected < 0 ? state.steps.length - 1 : state.selected;
  const step = state.steps[index];
  if (!step) { $("step-title").textContent = "No reply yet"; return; }
  $("step-title").textContent =
    `Step ${index + 1}: drew “${visible(step.text)}”`;
  const top = step.candidates.length ? step.candidates[0].p : 1;
  for (const candidate of step.candidates) {
    const row = el("li");
    if (candidate.text === step.text) row.classList.add("chosen");
    const fill = el("div", "fill");
    fill.style.width = `${Math.max(1, (100 * candidate.p) / top)}%`;
    const track = el("div", "track");
    track.append(fill);
    row.append(el("span", "t", visible(candidate.text)), track,
               el("span", "p", `${(100 * candidate.p).toFixed(1)}%`));
    bars.append(row);
  }
}

// -- streaming --

// Calls onEvent(name, data) for each server-sent event of a fetch response.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      onEvent(name, data ? JSON.parse(data) : null);
    }
  }
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("input").disabled = busy;
}

async function send(text) {
  if (!text.trim() || state.controller) return;
  const you = speaker();
  addMessage("user", text, you);
  const persona = state.model ? state.model.chat.persona : "HAMLET";
  const reply = addMessage("bot streaming", "", persona);
  const bubble = reply.querySelector(".bubble");
  state.steps = [];
  state.selected = -1;
  renderStrip();
  renderBars();
  $("stats").textContent = "";
  setBusy(true);
  state.controller = new AbortController();
  const started = performance.now();
  let text_so_far = "";
  let finished = null;
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      signal: state.controller.signal,
      body: JSON.stringify({
        message: text,
        history: state.history.slice(-6),
        speaker: you,
        stream: true,
        temperature: Number($("temperature").value),
        top_k: Number($("top-k").value),
        max_new_tokens: Number($("max-new-tokens").value),
        seed: Math.floor(Math.random() * 2147483647),
      }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await readEvents(response, (name, data) => {
      if (name === "token") {
        state.steps.push(data);
        text_so_far += data.text;
        bubble.textContent = text_so_far.replace(/^\n+/, "").replace(/\n+$/, "");
        renderStrip();
        renderBars();
        const seconds = (performance.now() - started) / 1000;
        $("stats").textContent = `${state.steps.length} tokens · ${(state.steps.length / seconds).toFixed(1)} tokens/s`;
        scrollDown();
      } else if (name === "done") {
        finished = data;
      } else if (name === "error") {
        throw new Error(data.error);
      }
    });
  } catch (error) {
    if (error.name !== "AbortError") {
      reply.classList.add("error");
      bubble.textContent = `Error: ${error.message}`;
    }
  } finally {
    reply.classList.remove("streaming");
    state.controller = null;
    setBusy(false);
    $("input").focus();
  }
  const final = finished ? finished.reply : text_so_far.trim();
  if (!reply.classList.contains("error")) {
    bubble.textContent = final || "…";
    state.history.push({ role: "user", content: text }, { role: "assistant", content: final });
    const why = finished ? { stop: "ended its speech", length: "reached max new tokens", context: "filled its context" }[finished.finish_reason] : "stopped";
    const meta = el("div", "meta", `${state.steps.length} tokens · ${why}`);
    reply.append(meta);
    if (finished) {
      $("stats").textContent = `${finished.num_tokens} tokens in ${finished.seconds.toFixed(2)} s · ` +
        `${(finished.num_tokens / Math.max(finished.seconds, 1e-3)).toFixed(1)} tokens/s · ${why}`;
    }
  }
  scrollDown();
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value;
  $("input").value = "";
  autosize();
  send(text);
});

$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

function autosize() {
  const input = $("input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}
$("input").addEventListener("input", autosize);

$("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });

$("clear").addEventListener("click", () => {
  if (state.controller) state.controller.abort();
  state.history = [];
  state.steps = [];
  for (const node of [...$("messages").querySelectorAll(".msg")]) node.remove();
  $("hint").hidden = false;
  renderStrip();
  renderBars();
  $("stats").textContent = "";
});

for (const chip of document.querySelectorAll("[data-example]")) {
  chip.addEventListener("click", () => send(chip.dataset.example));
}

// -- tabs --

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      const active = other === tab;
      other.classList.toggle("active", active);
      other.setAttribute("aria-selected", String(active));
      $(`panel-${other.dataset.tab}`).hidden = !active;
    }
  });
}

// -- translation --

async function translate(text) {
  const out = $("translation");
  out.textContent = "…";
  try {
    const response = await fetch("/api/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    const body = await response.json();
    if (body.error) {  // the model's own refusal: not a number it knows
      out.replaceChildren(el("span", "src", text), el("span", "refusal", body.error));
    } else {
      out.replaceChildren(el("span", "src", text), document.createTextNode(body.translation || "∅"));
    }
  } catch (error) {
    out.textContent = "";
    showToast(`Translation failed: ${error.message}`);
  }
}

$("translate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  translate($("translate-input").value);
});

for (const chip of document.querySelectorAll("[data-number]")) {
  chip.addEventListener("click", () => {
    $("translate-input").value = chip.dataset.number;
    translate(chip.dataset.number);
  });
}

loadModels();
$("input").focus();
