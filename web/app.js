// The ReasoningBank page: search, remember, learn — all in this browser.
import { ReasoningBank } from "./reasoningbank.js";
import { successChart } from "./chart.js";
import { PatternList, recentPatterns, el, outcomeParts, pct } from "./patterns.js";

/** Patterns the chart reads (the newest): enough for a trend, cheap in a big bank. */
const CHART_PATTERNS = 300;

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const timings = (window.rbTimings = {});
const status = $("#status");

if ("serviceWorker" in navigator && !params.has("nosw")) {
  navigator.serviceWorker.register("sw.js").catch((e) => console.warn("service worker:", e));
}

// Sharing remembered from an earlier visit is told at once, not after the runtime boots.
import("./sync.js").then((sync) => sync.previewSharing()).catch(() => {});

// -- connectivity: the network as the browser reports it, and the bus link's own state ----
let busState = "off";
function renderNet() {
  const net = $("#net");
  const online = navigator.onLine;
  net.dataset.online = String(online);
  net.dataset.bus = busState;
  const bus = {
    off: "sharing off",
    starting: "bus starting",
    online: "bus connected",
    refused: "bus refused (the hub does not trust this browser yet)",
  }[busState] || `bus ${busState}`;
  net.textContent = `${online ? "Online" : "Offline: everything still works here; sharing waits for the network"} · ${bus}`;
}
addEventListener("online", renderNet);
addEventListener("offline", renderNet);
addEventListener("rb-bus-state", (e) => {
  busState = e.detail.state;
  renderNet();
});
renderNet();

let rb;
let patternList;

/** A form's inline error (announced by screen readers); empty message clears it. */
function formError(form, message, input = null) {
  const box = form.querySelector(".error");
  box.textContent = message;
  box.hidden = !message;
  for (const i of form.querySelectorAll("input")) i.removeAttribute("aria-invalid");
  if (message && input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

/** The trimmed value of required text `inputs`, or null after showing which one is empty. */
function required(form, inputs) {
  for (const [input, what] of inputs) {
    if (!input.value.trim()) {
      formError(form, `${what} cannot be empty or only spaces.`, input);
      return null;
    }
  }
  formError(form, "");
  return inputs.map(([input]) => input.value.trim());
}

/** The stats card, then (unless `views` is false) the chart and the pattern list. */
async function refreshStats({ views = true } = {}) {
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
  if (views) refreshViews(s).catch((e) => console.warn("chart and list:", e)); // never holds up a save
  return s;
}

const IMPORT_REDRAW_MS = 1000; // see the rb-bus-import listener
let views = null; // the running refresh of the list and chart
let viewsAgain = null; // stats of a refresh asked for while one ran (runs once, after it)

/** Redraw the pattern list and the chart; calls while one runs coalesce into one more. */
function refreshViews(stats) {
  if (views) {
    viewsAgain = stats;
    return views;
  }
  views = (async () => {
    try {
      for (let s = stats; s; s = viewsAgain) {
        viewsAgain = null;
        await patternList.show(s);
        const recent = await recentPatterns(rb, s, CHART_PATTERNS);
        $("#chart").replaceChildren(successChart(recent, s.total_patterns));
      }
    } finally {
      views = null;
    }
  })();
  return views;
}

/** The composite score, labelled, with its parts in the tooltip. */
function scoreBox(m) {
  const parts = Object.entries(m.parts).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
  const why = `Match score ${m.score.toFixed(3)}: text similarity, category, context and past outcome combined (parts before weighting: ${parts})`;
  return el("div", { class: "score", title: why, "aria-label": why },
    el("span", { class: "score-label" }, "match "), m.score.toFixed(3));
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
    list.append(
      el("li", { "data-id": p.id },
        el("div", {},
          el("div", { class: "title" }, p.task_description),
          el("div", { class: "meta" },
            `${p.task_category} · `, el("b", {}, p.strategy), " · ", ...outcomeParts(p),
            ` · used ${p.metadata.usage_count}×`),
        ),
        el("div", { class: "actions" },
          scoreBox(m),
          el("span", { class: "hint" }, "Used it again: "),
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
  const form = e.target;
  const values = required(form, [[$("#q-text"), "The task to search for"]]);
  if (!values) return;
  try {
    await search(values[0], $("#q-cat").value.trim());
  } catch (err) {
    formError(form, err.message);
  }
});

$("#add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const fields = { task_description: $("#a-text"), task_category: $("#a-cat"), strategy: $("#a-strategy") };
  const values = required(form, [[fields.task_description, "The task"], [fields.task_category, "The category"], [fields.strategy, "The strategy"]]);
  if (!values) return;
  const [task, category, strategy] = values;
  let id;
  try {
    id = await rb.storePattern({
      task_description: task,
      task_category: category,
      strategy,
      outcome: { success: $("#a-success").checked, success_score: Number($("#a-score").value) },
    });
  } catch (err) {
    formError(form, err.message, fields[err.field] || null); // nothing was stored
    return;
  }
  form.reset();
  $("#a-score-out").value = "0.80";
  status.textContent = `Saved (${id.slice(0, 8)}…)`;
  await refreshStats();
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
  patternList = new PatternList(rb, refreshStats);
  timings.ready = performance.now();
  timings.boot = rb.timings; // start / pyodide / wheel / ready marks, open duration
  const stats = await refreshStats({ views: false }); // the first answer does not wait for them
  for (const b of document.querySelectorAll("#search-form button, #add-form button")) b.disabled = false;
  status.textContent = `Ready in ${(timings.ready / 1000).toFixed(2)} s · ${stats.total_patterns} patterns${semantic ? " · semantic" : ""}`;
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
  // Patterns from the bus can arrive hundreds a second: redraw at most once per
  // IMPORT_REDRAW_MS, so the page's reads do not hold up the bus sharing its thread.
  let importRedraw = null;
  addEventListener("rb-bus-import", () => {
    importRedraw ??= setTimeout(() => {
      importRedraw = null;
      refreshStats();
    }, IMPORT_REDRAW_MS);
  });
  addEventListener("rb-learned", () => refreshStats()); // the learn panel (learn.js)
  const sync = await import("./sync.js").catch((e) => (console.warn("neural bus:", e), null));
  if (sync) {
    const { wireBundles } = await import("./bundle.js");
    wireBundles(rb, refreshStats);
  }
  await refreshViews(stats);
  await sync?.sharing(rb).catch((e) => console.warn("neural bus:", e));
  window.rbBusAttached = sync?.attach(rb, params).catch((e) => (console.warn("neural bus:", e), null));
  window.rbReady = true;
} catch (e) {
  status.textContent = `Could not start: ${e.message}`;
  window.rbError = String(e && e.stack || e);
  throw e;
}
