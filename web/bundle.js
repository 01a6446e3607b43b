// Export and import of signed bundles from the page: the same file `reasoningbank export`
// writes and `reasoningbank import` reads, signed with this browser's key. Verification and
// storage run in Python (transport_webtransport/bundles.py); this module is the buttons.
import { pageCall } from "./sync.js";
import { el } from "./patterns.js";

/** {bundle (text), count, public_key, bytes, skipped_patterns} of every pattern in `rb`. */
export function exportBundle(rb) {
  return pageCall(rb, "exportBundle", rb._handle);
}

/** Verify and import bundle `text`: {signer, read, imported, skipped, skipped_records, ...}. */
export function importBundle(rb, text) {
  return pageCall(rb, "importBundle", rb._handle, text);
}

function download(text, name) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
  const a = el("a", { href: url, download: name, hidden: "" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function showReport(box, report, name) {
  const short = (k) => `${k.slice(0, 16)}…`;
  const head = el("p", { class: "import-summary" },
    `${name}: imported ${report.imported} of ${report.read} pattern${report.read === 1 ? "" : "s"}`,
    ` (signature verified, signed by `, el("code", { title: report.signer }, short(report.signer)), ")");
  box.replaceChildren(head);
  if (report.skipped) {
    const list = el("ul", { class: "skipped" },
      ...report.skipped_records.map((s) => el("li", { "data-id": s.id }, `${s.where} (${s.id}): ${s.reason}`)));
    box.append(el("details", { open: "" }, el("summary", {}, `${report.skipped} not imported, and why`), list));
  }
}

/** Wire the Export button and the Import file field; `onChange` runs after an import. */
export function wireBundles(rb, onChange) {
  const exportButton = document.getElementById("export");
  const input = document.getElementById("import-file");
  const box = document.getElementById("import-report");
  const fail = (e) => box.replaceChildren(el("p", { class: "error", role: "alert" }, e.message || String(e)));
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      const out = await exportBundle(rb);
      download(out.bundle, `reasoningbank-${new Date().toISOString().slice(0, 10)}.rbundle`);
      const skipped = out.skipped_patterns.length ? `; ${out.skipped_patterns.length} left out: ${out.skipped_patterns.map((s) => `${s.id}: ${s.reason}`).join("; ")}` : "";
      box.replaceChildren(el("p", { class: "export-summary" }, `Exported ${out.count} pattern${out.count === 1 ? "" : "s"} (${out.bytes} bytes), signed by this browser${skipped}.`));
    } catch (e) {
      fail(e);
    } finally {
      exportButton.disabled = false;
    }
  });
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    box.replaceChildren(el("p", {}, `Checking ${file.name}…`));
    try {
      showReport(box, await importBundle(rb, await file.text()), file.name);
      await onChange();
    } catch (e) {
      fail(e);
    } finally {
      input.value = "";
    }
  });
  exportButton.disabled = false;
  input.disabled = false;
}
