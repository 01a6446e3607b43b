// Body of an async function (args) run in the PWA (booted with a fresh db): a person using the
// page through its controls, reporting what the page showed at each step. args: {bundle, signer,
// foreign} (a bundle signed by a CPython bank's key `signer`, unknown to this browser).
const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];
const text = (sel) => ($(sel) ? $(sel).textContent : null);
const shown = (sel) => Boolean($(sel)) && !$(sel).hidden && $(sel).getClientRects().length > 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, what, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
function fill(sel, value) {
  const input = $(sel);
  input.value = value;
  input.dispatchEvent(new Event("input", { bubbles: true }));
}
async function add(task, category, strategy, worked) {
  fill("#a-text", task);
  fill("#a-cat", category);
  fill("#a-strategy", strategy);
  $("#a-success").checked = worked;
  $("#status").textContent = "";
  $("#add-form").requestSubmit();
  await until(() => text("#status").startsWith("Saved"), `saving ${task}`);
}
async function chooseFile(name, content) {
  const input = $("#import-file");
  const dt = new DataTransfer();
  dt.items.add(new File([content], name, { type: "application/octet-stream" }));
  input.files = dt.files;
  $("#import-report").replaceChildren();
  input.dispatchEvent(new Event("change", { bubbles: true }));
  await until(() => $("#import-report .import-summary, #import-report .error"), `importing ${name}`);
  return { summary: text("#import-report .import-summary"), error: text("#import-report .error"),
           skipped: $$("#import-report .skipped li").map((li) => li.textContent) };
}
const out = {};
const rb = window.rb;

// 1. Blank input: an inline error in the form, announced, and nothing stored.
fill("#a-text", "   ");
fill("#a-cat", "backend");
fill("#a-strategy", "spike");
$("#add-form").requestSubmit();
await until(() => shown("#a-error"), "the add form's error");
out.blankAdd = { error: text("#a-error"), role: $("#a-error").getAttribute("role"),
                 invalid: $("#a-text").getAttribute("aria-invalid"),
                 focused: document.activeElement === $("#a-text"),
                 stored: (await rb.getStats()).total_patterns };
fill("#q-text", " \t ");
$("#search-form").requestSubmit();
await until(() => shown("#q-error"), "the search form's error");
out.blankSearch = text("#q-error");

// 2. Remember three attempts; search; record a failure on the best match.
await add("add oauth token refresh", "backend", "test-driven", true);
await add("refresh expired oauth tokens in the mobile app", "backend", "spec-first", true);
await add("build responsive login form", "frontend", "prototype then harden", true);
out.addErrorCleared = !shown("#a-error");
fill("#q-text", "refresh oauth tokens");
fill("#q-cat", "backend");
$("#results").replaceChildren();
$("#search-form").requestSubmit();
await until(() => $("#results li[data-id]"), "search results");
const first = $("#results li[data-id]").dataset.id;
$("#results li[data-id] button[title*='failed']").click();
await until(() => $(`#results li[data-id="${first}"]`)?.textContent.includes("over 2 outcomes"), "the recorded outcome");
const row = $(`#results li[data-id="${first}"]`);
out.result = { text: row.textContent, scoreText: row.querySelector(".score").textContent,
               scoreTitle: row.querySelector(".score").getAttribute("title"),
               pattern: await rb.getPattern(first) };

// 3. The chart: one line per strategy, its last point the strategy's success rate.
await until(() => $$("#chart svg g[data-strategy]").length === 3, "the chart");
out.chart = { strategies: $$("#chart svg g[data-strategy]").map((g) => [g.dataset.strategy, Number(g.dataset.rate)]),
              label: $("#chart svg").getAttribute("aria-label"), points: $$("#chart svg circle").length };

// 4. The list: filter by category, delete with a confirmation (cancel keeps it).
out.listAll = $$("#p-list li[data-id]").length;
$("#p-cat").value = "frontend";
$("#p-cat").dispatchEvent(new Event("change", { bubbles: true }));
await until(() => text("#p-page").endsWith("· 1 pattern"), "the frontend patterns");
out.listFrontend = $$("#p-list li[data-id]").map((li) => li.querySelector(".title").textContent);
$("#p-cat").value = "";
$("#p-cat").dispatchEvent(new Event("change", { bubbles: true }));
await until(() => text("#p-page").endsWith("· 3 patterns"), "every pattern again");
const victim = $$("#p-list li[data-id]").find((li) => li.textContent.includes("login form"));
victim.querySelector("button").click();
await until(() => $("#delete-confirm").open, "the delete dialog");
out.dialogText = text("#delete-confirm");
$("#delete-confirm-cancel").click();
await until(() => !$("#delete-confirm").open, "the dialog to close");
await sleep(100);
out.afterCancel = { listed: $$("#p-list li[data-id]").length, stored: (await rb.getStats()).total_patterns };
$(`#p-list li[data-id="${victim.dataset.id}"] button`).click();
await until(() => $("#delete-confirm").open, "the delete dialog again");
$("#delete-confirm-accept").click();
await until(() => !$(`#p-list li[data-id="${victim.dataset.id}"]`), "the deleted pattern to leave the list");
out.afterDelete = { listed: $$("#p-list li[data-id]").length, stored: (await rb.getStats()).total_patterns,
                    gone: (await rb.getPattern(victim.dataset.id)) === null };

// 5. The trust list: a bad key is refused inline, a good one added, then removed.
await until(() => !$("#trust-form button").disabled, "the trust form");
fill("#t-key", "not-a-key");
$("#trust-form").requestSubmit();
await until(() => shown("#t-error"), "the trust form's error");
out.badKey = text("#t-error");
const friend = "ab".repeat(32);
fill("#t-key", friend.toUpperCase());
fill("#t-label", "friend's laptop");
$("#trust-form").requestSubmit();
await until(() => $(`#trust-list li[data-key="${friend}"]`), "the trusted key");
const { BusSync } = await import("./sync.js");
out.trustedAfterAdd = await BusSync.trustedKeys(rb);
out.trustRow = text(`#trust-list li[data-key="${friend}"]`);
$(`#trust-list li[data-key="${friend}"] button`).click();
await until(() => !$(`#trust-list li[data-key="${friend}"]`), "the removed key");
out.trustedAfterRemove = await BusSync.trustedKeys(rb);

// 6. Bundles: export; re-import (all already there); a tampered copy; a stranger's bundle
//    (refused until its key is trusted, then imported and paged).
const { exportBundle } = await import("./bundle.js");
const exported = await exportBundle(rb);
out.exported = { count: exported.count, key: exported.public_key, own: text("#own-key"),
                 lines: exported.bundle.trimEnd().split("\n").length };
out.reimport = await chooseFile("mine.rbundle", exported.bundle);
const lines = exported.bundle.split("\n");
lines[1] = lines[1].replace("oauth", "0auth");
out.tampered = await chooseFile("tampered.rbundle", lines.join("\n"));
out.untrusted = await chooseFile("theirs.rbundle", args.bundle);
fill("#t-key", args.signer);
fill("#t-label", "the cpython bank");
$("#trust-form").requestSubmit();
await until(() => $(`#trust-list li[data-key="${args.signer}"]`), "the bank's key");
out.trusted = await chooseFile("theirs.rbundle", args.bundle);
await until(() => text("#p-page").includes("14 patterns"), "the list after the import");
out.afterImport = { stored: (await rb.getStats()).total_patterns, page: text("#p-page"),
                    listed: $$("#p-list li[data-id]").length };
$("#p-next").click();
await until(() => text("#p-page").startsWith("page 2"), "the second page");
out.page2 = { page: text("#p-page"), listed: $$("#p-list li[data-id]").length, next: $("#p-next").disabled };
out.garbage = await chooseFile("notes.txt", "hello\nworld\n");
out.footer = text("#where");
out.net = { text: text("#net"), online: $("#net").dataset.online };
return out;
