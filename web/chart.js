// The success-rate chart: one line per strategy, as plain SVG (no chart library to load).
// Each point is the strategy's success rate over every outcome recorded on its patterns
// stored so far, by when each pattern was stored: a line that climbs is a strategy that keeps
// working as it is used more.

const SVG = "http://www.w3.org/2000/svg";
const W = 560;
const H = 220;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };
const COLORS = ["#1f4e79", "#1d7a46", "#a33a2a", "#8a5a00", "#6b3fa0", "#00717a"];
const MAX_LINES = COLORS.length;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

const pct = (x) => `${Math.round(100 * x)}%`;
const day = (t) => new Date(t).toISOString().slice(0, 10);

/** Per strategy, [{t, rate, n}] in time order (n: outcomes counted so far). */
export function successSeries(patterns) {
  const by = new Map();
  const sorted = [...patterns].sort((a, b) => a.metadata.created_at.localeCompare(b.metadata.created_at));
  for (const p of sorted) {
    const s = by.get(p.strategy) || { ok: 0, all: 0, points: [] };
    s.ok += p.metadata.success_count;
    s.all += p.metadata.success_count + p.metadata.failure_count;
    s.points.push({ t: Date.parse(p.metadata.created_at), rate: s.all ? s.ok / s.all : 0, n: s.all });
    by.set(p.strategy, s);
  }
  return [...by.entries()]
    .map(([strategy, s]) => ({ strategy, points: s.points, rate: s.all ? s.ok / s.all : 0 }))
    .sort((a, b) => b.points.length - a.points.length || a.strategy.localeCompare(b.strategy));
}

/**
 * The chart for `patterns` (an <svg> with a text summary for screen readers), or a note;
 * `total`: the bank's size, when `patterns` are only its newest.
 */
export function successChart(patterns, total = patterns.length) {
  const series = successSeries(patterns);
  if (!series.length) return Object.assign(document.createElement("p"), { className: "empty", textContent: "No patterns yet." });
  const shown = series.slice(0, MAX_LINES);
  const times = shown.flatMap((s) => s.points.map((p) => p.t));
  const t0 = Math.min(...times);
  const span = Math.max(...times) - t0 || 1;
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (r) => PAD.top + (1 - r) * (H - PAD.top - PAD.bottom);
  const summary = shown.map((s) => `${s.strategy} ${pct(s.rate)}`).join(", ");
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Success rate by strategy: ${summary}`, class: "chart-svg" });
  for (const r of [0, 0.5, 1]) {
    root.append(
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(r), y2: y(r), class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y(r) + 4, "text-anchor": "end", class: "axis" }, pct(r)),
    );
  }
  root.append(
    svg("text", { x: PAD.left, y: H - 8, class: "axis" }, day(t0)),
    svg("text", { x: W - PAD.right, y: H - 8, "text-anchor": "end", class: "axis" }, day(t0 + span)),
  );
  shown.forEach((s, i) => {
    const color = COLORS[i];
    const g = svg("g", { "data-strategy": s.strategy, "data-rate": s.rate.toFixed(4), stroke: color, fill: color });
    const pts = s.points.map((p) => [x(p.t), y(p.rate)]);
    if (pts.length === 1) pts.push([pts[0][0] + 6, pts[0][1]]); // one pattern: a short mark
    g.append(svg("polyline", { points: pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "), fill: "none", "stroke-width": 2 }));
    for (const p of s.points) {
      g.append(svg("circle", { cx: x(p.t).toFixed(1), cy: y(p.rate).toFixed(1), r: 3 },
        svg("title", {}, `${s.strategy}: ${pct(p.rate)} of ${+p.n.toFixed(2)} outcome${p.n === 1 ? "" : "s"} by ${day(p.t)}`)));
    }
    root.append(g);
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  shown.forEach((s, i) => {
    const li = document.createElement("li");
    li.style.setProperty("--c", COLORS[i]);
    li.textContent = `${s.strategy}: ${pct(s.rate)} (${s.points.length} pattern${s.points.length === 1 ? "" : "s"})`;
    legend.append(li);
  });
  const box = document.createElement("div");
  box.append(root, legend);
  if (total > patterns.length) {
    box.append(Object.assign(document.createElement("p"), { className: "hint", textContent: `From the newest ${patterns.length} of ${total} patterns.` }));
  }
  if (series.length > shown.length) {
    box.append(Object.assign(document.createElement("p"), { className: "hint", textContent: `${series.length - shown.length} less used strategies not drawn.` }));
  }
  return box;
}
