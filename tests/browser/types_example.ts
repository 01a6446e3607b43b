// A page using every call of the JS API, type-checked with `tsc --strict --noEmit` against
// web/reasoningbank.d.ts (tests/browser/test_browser_types.py). Never run: only checked.
import ReasoningBankDefault, {
  ReasoningBank,
  ReasoningBankError,
  runtime,
  type LearnReport,
  type Match,
  type MemoryItem,
  type Pattern,
  type Recommendation,
  type Stats,
} from "../../web/reasoningbank.js";
import { BusSync, BusSyncError, type BusStatus } from "../../web/sync.js";

export async function example(): Promise<string> {
  const rt = await runtime({ indexURL: "pyodide/" });
  const started: number = rt.marks.start;
  const rb: ReasoningBank = await ReasoningBankDefault.load({ db: "my-agent", semantic: false, weights: { outcome: 0.2 } });
  const boot: number = rb.timings.ready - started;

  const id: string = await rb.storePattern({
    task_description: "add oauth token refresh",
    task_category: "backend",
    strategy: "test-driven",
    success_score: 0.9,
  });
  const ids: string[] = await rb.storePatterns([
    { task_description: "fix pool leak", task_category: "backend", strategy: "pair review", outcome: { success: true } },
  ]);
  const matches: Match[] = await rb.findSimilar("refresh oauth tokens", "backend", 5, { strictCategory: false, minScore: 0.1 });
  const best = matches[0];
  const parts: number = best ? best.parts.similarity + best.parts.outcome + (best.parts.semantic ?? 0) : 0;
  const got: Pattern | null = await rb.getPattern(id);
  const confidence: number = got ? got.metadata.confidence : 0;
  const lastWorked: boolean = got?.outcome.success ?? false;
  const byCategory: Pattern[] = await rb.searchByCategory("backend", 10);
  const stats: Stats = await rb.getStats();
  const updated: Pattern = await rb.recordOutcome(ids[0] ?? id, { success: false, score: 0, durationSeconds: 3 });
  const rec: Recommendation | null = await rb.recommendStrategy("refresh oauth tokens", "backend");
  const strategy: string | null = rec ? rec.strategy : null;

  const report: LearnReport = await rb.learn("book the cheapest flight to Oslo", [{ thought: "compare", action: "search", observation: "3 offers" }], {
    category: "web",
    outcome: true,
    llm: async (prompt: string) => `judged: ${prompt.length}`,
  });
  const judge: "outcome" | "llm" | "heuristic" = report.verdict.judged_by;
  const items: MemoryItem[] = await rb.retrieve("book a cheap flight", { category: "web", k: 5, diversity: 0.3 });
  const prompt: string = await rb.memoryPrompt("book a cheap flight", { k: 5 });

  const bus: BusSync = await BusSync.start(rb, { hub: "https://127.0.0.1:4433/bus", certHash: "ab".repeat(32), trust: [] });
  const stop = bus.onChange((s: BusStatus) => console.log(s.state, s.transport, s.peers.map((p) => p.label), s.rejected.untrusted ?? 0));
  const me: string = await BusSync.identity(rb);
  const shared: number = await bus.share([id]);
  const synced: BusStatus = await bus.syncNow(5);
  const newKeys: number = await BusSync.trustKeys(rb, [me]);
  const labels = Object.values(await bus.trusted()).map((t) => t.label);
  stop();
  try {
    await bus.stop();
  } catch (e) {
    if (e instanceof BusSyncError) console.log(e.name, shared, synced.pending, newKeys, labels);
  }
  await rb.deletePattern(id);
  try {
    await rb.getStats();
  } catch (e) {
    if (e instanceof ReasoningBankError) return `${e.name}: ${e.message} (${e.field ?? "-"}, ${e.patternId ?? "-"})`;
  }
  await rb.close();
  const kinds = items.map((item) => item.kind === "success" ? item.title : item.description);
  return [boot, parts, confidence, lastWorked, byCategory.length, stats.storage.backend, updated.metadata.usage_count,
    strategy, judge, kinds.join(","), prompt, rb.db].join(" ");
}
