// The browsable pattern list: newest first, filtered by category, ten to a page, each
// deletable after a confirmation. Also how a pattern's outcome is told everywhere on the page:
// the latest stored outcome and the confidence that tracks every outcome, side by side.

const PAGE_SIZE = 10;
const MAX_LIMIT = 10000; // the bank's cap on searchByCategory's limit

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const pct = (x) => `${Math.round(100 * x)}%`;
const count = (x) => +x.toFixed(2);

/** "last outcome: worked (0.90)" and "confidence 45% over 2 outcomes": both, never one for the other. */
export function outcomeParts(p) {
  const m = p.metadata;
  const worked = p.outcome.success;
  const outcomes = m.success_count + m.failure_count;
  return [
    "last outcome: ",
    el("span", { class: worked ? "ok outcome" : "bad outcome" }, worked ? "worked" : "failed"),
    ` (${p.outcome.success_score.toFixed(2)})`,
    " · ",
    el("span", {
      class: "confidence",
      title: `${count(m.success_count)} successes and ${count(m.failure_count)} failures, older ones weighing less`,
    }, `confidence ${pct(m.confidence)} over ${count(outcomes)} outcome${outcomes === 1 ? "" : "s"}`),
  ];
}

const newestFirst = (a, b) => b.metadata.created_at.localeCompare(a.metadata.created_at);

/**
 * About `count` of the newest patterns, newest first: each category gives its share of
 * `count` (by its size), so a big bank costs a read of `count` patterns, not all of them.
 */
export async function recentPatterns(rb, stats, count) {
  const total = stats.total_patterns;
  const lists = await Promise.all(
    Object.entries(stats.categories).filter(([, n]) => n > 0).map(([cat, n]) =>
      rb.searchByCategory(cat, Math.min(n, MAX_LIMIT, Math.max(1, Math.ceil((count * n) / total))))),
  );
  return lists.flat().sort(newestFirst);
}

/** Resolves true only when the user confirms in `dialog` (a <dialog> with a method=dialog form). */
export function confirmWith(dialog, accept) {
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === accept);
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
}

export class PatternList {
  constructor(rb, onChange) {
    this.rb = rb;
    this.onChange = onChange;
    this.stats = { categories: {} };
    this.page = 0;
    this.shown = 0; // renders started: a slow read never overwrites a newer one
    this.$ = (id) => document.getElementById(id);
    const load = () => this.load().catch((e) => console.warn("pattern list:", e));
    this.$("p-cat").addEventListener("change", () => ((this.page = 0), load()));
    this.$("p-prev").addEventListener("click", () => (this.page--, load()));
    this.$("p-next").addEventListener("click", () => (this.page++, load()));
  }

  /** Show the bank as `stats` counts it, keeping the chosen category and page where possible. */
  async show(stats) {
    this.stats = stats;
    const categories = Object.keys(stats.categories);
    const select = this.$("p-cat");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"), ...categories.map((c) => el("option", { value: c }, c)));
    select.value = categories.includes(chosen) ? chosen : "";
    await this.load();
  }

  /** Read just the patterns up to the current page (newest first), then draw that page. */
  async load() {
    const run = ++this.shown;
    const cat = this.$("p-cat").value;
    const counts = Object.entries(this.stats.categories).filter(([c, n]) => n > 0 && (!cat || c === cat));
    const total = counts.reduce((a, [, n]) => a + n, 0);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const upTo = (this.page + 1) * PAGE_SIZE;
    const lists = await Promise.all(counts.map(([c, n]) => this.rb.searchByCategory(c, Math.min(n, upTo, MAX_LIMIT))));
    if (run !== this.shown) return;
    const slice = lists.flat().sort(newestFirst).slice(this.page * PAGE_SIZE, upTo);
    const list = this.$("p-list");
    list.replaceChildren(...slice.map((p) => this.item(p)));
    if (!slice.length) list.append(el("li", { class: "empty" }, cat ? `No patterns in ${cat}.` : "No patterns yet."));
    this.$("p-page").textContent = total ? `page ${this.page + 1} of ${pages} · ${total} pattern${total === 1 ? "" : "s"}` : "";
    this.$("p-prev").disabled = this.page === 0;
    this.$("p-next").disabled = this.page >= pages - 1;
  }

  item(p) {
    return el("li", { "data-id": p.id },
      el("div", {},
        el("div", { class: "title" }, p.task_description),
        el("div", { class: "meta" }, `${p.task_category} · `, el("b", {}, p.strategy), " · ", ...outcomeParts(p),
          ` · stored ${p.metadata.created_at.slice(0, 10)}`),
      ),
      el("button", { class: "small danger", type: "button", "aria-label": `Delete: ${p.task_description}`, onclick: () => this.remove(p) }, "Delete"),
    );
  }

  async remove(p) {
    const dialog = this.$("delete-confirm");
    this.$("delete-confirm-body").textContent = `“${p.task_description}” (${p.task_category}, ${p.strategy})`;
    dialog.dataset.id = p.id;
    if (!(await confirmWith(dialog, "delete"))) return false;
    await this.rb.deletePattern(p.id);
    await this.onChange();
    return true;
  }
}
