// The ReasoningBank page: search, remember, learn — all in this browser.
import { ReasoningBank } from "./reasoningbank.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const timings = (window.rbTimings = {});
const status = $("#status");

if ("serviceWorker" in navigator && !params.has("nosw")) {
  navigator.serviceWorker.register("sw.js").catch((e) => console.warn("service worker:", e));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

const pct = (x) => `${Math.round(100 * x)}%`;
let rb;

async function refreshStats() {
  const s = await rb.getStats();
  const dl = $("#stats");
  dl.replaceChildren();
  const topStrategies = Object.entries(s.strategies).slice(0, 4).map(([k, v]) => `${k} (${v})`).join(", ");
  const rows = [
    ["Patterns", s.total_patterns],
    ["Categories", Object.keys(s.categories).join(", ") || "—"],
    ["Top strategies", topStrategies || "—"],
    ["Average outcome", s.total_patterns ? s.avg_success_score.toFixed(2) : "—"],
    ["Success rate", s.observations ? pct(s.success_rate) : "—"],
    ["Stored in", `${s.storage.location} (${s.storage.backend})`],
    ["Runtime", s.runtime],
  ];
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
  $("#categories").replaceChildren(...Object.keys(s.categories).map((c) => el("option", { value: c })));
  $("#strategies").replaceChildren(...Object.keys(s.strategies).map((c) => el("option", { value: c })));
  return s;
}

function renderResults(matches) {
  const list = $("#results");
  list.replaceChildren();
  if (!matches.length) {
    list.append(el("li", { class: "empty" }, "No similar tasks yet. Remember one below."));
    return;
  }
  for (const m of matches) {
    const p = m.pattern;
    const worked = p.outcome.success;
    const meta = p.metadata;
    list.append(
      el("li", { "data-id": p.id },
        el("div", {},
          el("div", { class: "title" }, p.task_description),
          el("div", { class: "meta" },
            `${p.task_category} · `, el("b", {}, p.strategy), " · ",
            el("span", { class: worked ? "ok" : "bad" }, worked ? "worked" : "failed"),
            ` · outcome ${p.outcome.success_score.toFixed(2)} · used ${meta.usage_count}× · confidence ${pct(meta.confidence)}`),
        ),
        el("div", {},
          el("div", { class: "score", title: "composite score" }, m.score.toFixed(3)),
          el("button", { class: "small", title: "I used this again and it worked", onclick: () => outcome(p.id, true) }, "✓ worked"),
          " ",
          el("button", { class: "small", title: "I used this again and it failed", onclick: () => outcome(p.id, false) }, "✗ failed"),
        ),
      ),
    );
  }
}

function renderRecommendation(rec) {
  const box = $("#recommendation");
  if (!rec || !rec.strategy) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.replaceChildren(
    el("strong", {}, "Recommended strategy: "), el("span", { id: "rec-strategy" }, rec.strategy),
    ` — confidence ${pct(rec.confidence)}, from ${rec.evidence.length} similar attempt${rec.evidence.length === 1 ? "" : "s"}`,
  );
}

async function search(text, category) {
  const t = performance.now();
  const [matches, rec] = await Promise.all([
    rb.findSimilar(text, category || null, 5),
    rb.recommendStrategy(text, category || null),
  ]);
  renderResults(matches);
  renderRecommendation(rec);
  status.textContent = `${matches.length} similar task${matches.length === 1 ? "" : "s"} in ${(performance.now() - t).toFixed(1)} ms`;
  return matches;
}

async function outcome(id, success) {
  await rb.recordOutcome(id, { success, score: success ? 1.0 : 0.0 });
  await refreshStats();
  const text = $("#q-text").value.trim();
  if (text) await search(text, $("#q-cat").value.trim());
}

$("#a-score").addEventListener("input", (e) => ($("#a-score-out").value = Number(e.target.value).toFixed(2)));

$("#search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  await search($("#q-text").value.trim(), $("#q-cat").value.trim());
});

$("#add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const score = Number($("#a-score").value);
  const id = await rb.storePattern({
    task_description: $("#a-text").value.trim(),
    task_category: $("#a-cat").value.trim(),
    strategy: $("#a-strategy").value.trim(),
    outcome: { success: $("#a-success").checked, success_score: score },
  });
  e.target.reset();
  $("#a-score-out").value = "0.80";
  await refreshStats();
  status.textContent = `Saved (${id.slice(0, 8)}…)`;
});

try {
  // Semantic search (the server's [semantic] extra, 8.8 MB fetched once): ?semantic=1
  // turns it on for this browser, ?semantic=0 off.
  if (params.has("semantic")) localStorage.setItem("rb-semantic", params.get("semantic") || "1");
  let semantic = (localStorage.getItem("rb-semantic") || "0") !== "0";
  const db = params.get("db") || "reasoningbank";
  const snapshot = !params.has("nosnapshot"); // boot without the Pyodide snapshot (benchmarks)
  rb = await ReasoningBank.load({ db, semantic, snapshot }).catch((e) => {
    if (!semantic) throw e;
    console.warn("semantic embedder unavailable, searching lexically:", e);
    semantic = false; // e.g. offline before the asset was ever cached: the app still works
    return ReasoningBank.load({ db, snapshot });
  });
  window.rb = rb;
  timings.ready = performance.now();
  timings.boot = rb.timings; // start / pyodide / wheel / ready marks, open duration
  const stats = await refreshStats();
  for (const b of document.querySelectorAll("button[type=submit]")) b.disabled = false;
  status.textContent = `Ready in ${(timings.ready / 1000).toFixed(2)} s · ${stats.total_patterns} patterns${semantic ? " · semantic" : ""} · ${navigator.onLine ? "online" : "offline"}`;
  const q = params.get("q");
  if (q) {
    $("#q-text").value = q;
    $("#q-cat").value = params.get("cat") || "";
    await search(q, params.get("cat"));
    timings.firstAnswer = performance.now();
  }
  // Sharing (web/sync.js): off until the user turns it on (remembered for this origin); a
  // link's ?hub= or ?trust= only after the user accepts it in a dialog, which is not awaited:
  // the page works while it is open.
  addEventListener("rb-bus-import", () => refreshStats());
  const sync = await import("./sync.js").catch((e) => (console.warn("neural bus:", e), null));
  await sync?.sharing(rb).catch((e) => console.warn("neural bus:", e));
  window.rbBusAttached = sync?.attach(rb, params).catch((e) => (console.warn("neural bus:", e), null));
  window.rbReady = true;
} catch (e) {
  status.textContent = `Could not start: ${e.message}`;
  window.rbError = String(e && e.stack || e);
  throw e;
}
