// "Learn from this attempt": paste what an agent did (a transcript, or JSON steps), optionally
// say how it went, and see the memory items the bank distilled from it (DESIGN 2b).
// Self-contained: it fills #learn-card once the page's bank (window.rb) is open.

const card = document.querySelector("#learn-card");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** JSON steps ([{thought, action, observation}]) stay steps; anything else is text. */
export function parseTrajectory(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const steps = JSON.parse(trimmed);
      if (Array.isArray(steps)) return steps;
    } catch {}
  }
  return text;
}

const OUTCOMES = { "": null, success: true, failure: false };

function renderItems(list, report) {
  list.replaceChildren(
    ...report.items.map((item) =>
      el("li", { class: `item ${item.kind}` },
        el("span", { class: `kind ${item.kind === "success" ? "ok" : "bad"}` }, item.kind),
        el("span", { class: "title" }, item.title),
        el("div", { class: "description" }, item.description),
        el("div", { class: "content" }, item.content),
      ),
    ),
  );
  if (!report.items.length) list.append(el("li", { class: "empty" }, "Nothing new: these lessons were already in the bank."));
}

function mount(rb) {
  const form = el("form", { id: "learn-form" },
    el("label", {}, "Task", el("input", { id: "l-task", required: "", placeholder: "what the agent was asked to do", autocomplete: "off" })),
    el("label", {}, "Category", el("input", { id: "l-cat", list: "categories", placeholder: "optional" })),
    el("label", { class: "wide" }, "What it did (transcript, or JSON steps)",
      el("textarea", { id: "l-trajectory", required: "", rows: "6", placeholder: "$ pytest\n1 failed: test_refresh ..." })),
    el("label", {}, "Outcome",
      el("select", { id: "l-outcome" },
        el("option", { value: "" }, "let the judge decide"),
        el("option", { value: "success" }, "it worked"),
        el("option", { value: "failure" }, "it failed"))),
    el("button", { type: "submit" }, "Learn"),
  );
  const verdict = el("p", { id: "l-verdict", role: "status", "aria-live": "polite" });
  const error = el("p", { id: "l-error", class: "bad", role: "alert" });
  const items = el("ol", { id: "l-items", class: "results" });
  card.replaceChildren(el("h2", {}, "Learn from this attempt"), form, error, verdict, items);
  card.hidden = false;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    error.textContent = verdict.textContent = "";
    items.replaceChildren();
    try {
      const report = await rb.learn(
        form.querySelector("#l-task").value.trim(),
        parseTrajectory(form.querySelector("#l-trajectory").value),
        {
          category: form.querySelector("#l-cat").value.trim() || null,
          outcome: OUTCOMES[form.querySelector("#l-outcome").value],
        },
      );
      const v = report.verdict;
      verdict.textContent = `${v.success ? "Worked" : "Failed"} (score ${v.score.toFixed(2)}, judged by ${v.judged_by}): ${report.items.length} item${report.items.length === 1 ? "" : "s"} learned`;
      renderItems(items, report);
      dispatchEvent(new CustomEvent("rb-learned", { detail: report })); // the page's stats
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
}

// The page opens the bank (app.js); wait for it rather than opening a second one.
if (card) {
  const wait = setInterval(() => {
    if (window.rb) {
      clearInterval(wait);
      mount(window.rb);
    } else if (window.rbError) clearInterval(wait);
  }, 50);
}
