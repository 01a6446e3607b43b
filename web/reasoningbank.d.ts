// Types for web/reasoningbank.js: every call of the JS API and every result it resolves to.
// Results are plain JSON objects (the Python side's to_dict() shapes), never proxies.

/** How an attempt turned out (the latest recorded outcome of a pattern). */
export interface Outcome {
  success: boolean;
  success_score: number;
  duration_seconds: number | null;
  tokens_used: number | null;
  error_message: string | null;
  metrics: Record<string, unknown>;
}

/** Bookkeeping the bank maintains; unknown fields of imported patterns are kept too. */
export interface PatternMetadata {
  /** ISO 8601 UTC, e.g. "2026-01-31T12:00:00.000000Z". */
  created_at: string;
  updated_at: string;
  usage_count: number;
  avg_success_score: number;
  tags: string[];
  /** Decayed successes and failures over every recorded outcome. */
  success_count: number;
  failure_count: number;
  /** Posterior success estimate over every outcome (not only the latest). */
  confidence: number;
  contradictions: number;
  merged_count: number;
  [extra: string]: unknown;
}

/** A stored pattern, as the bank returns it. */
export interface Pattern {
  id: string;
  task_description: string;
  task_category: string;
  strategy: string;
  context: Record<string, unknown>;
  outcome: Outcome;
  metadata: PatternMetadata;
  /** Present only when the pattern has a dense vector and the call returns vectors. */
  embedding?: number[];
}

/** What storePattern accepts: the pattern JSON, most fields optional. */
export interface PatternInput {
  id?: string;
  task_description: string;
  task_category: string;
  strategy: string;
  context?: Record<string, unknown>;
  outcome?: Partial<Outcome>;
  /** Shorthand for outcome.success_score (success then follows from the score). */
  success_score?: number;
  metadata?: Partial<PatternMetadata>;
  embedding?: number[];
}

/** The composite score's parts, each before weighting. */
export interface ScoreParts {
  similarity: number;
  lexical: number;
  /** Only when both the query and the pattern have dense vectors. */
  semantic?: number;
  category: number;
  context: number;
  outcome: number;
}

export interface Match {
  pattern: Pattern;
  /** The composite score the results are ranked by. */
  score: number;
  /** The text similarity part. */
  similarity: number;
  parts: ScoreParts;
}

export interface FindOptions {
  minScore?: number;
  context?: Record<string, unknown>;
  /** A query vector of the bank's dense dimension (bring-your-own embeddings). */
  embedding?: number[];
  /** true (default): only `taskCategory` is searched; false: the category is a boost. */
  strictCategory?: boolean;
}

export interface StrategyScore {
  strategy: string;
  confidence: number;
  interval: [number, number];
  weight: number;
  evidence: string[];
}

export interface Recommendation {
  strategy: string | null;
  confidence: number;
  /** Ids of the patterns that support the strategy. */
  evidence: string[];
  alternatives: StrategyScore[];
  explored: boolean;
}

export interface OutcomeInput {
  success?: boolean;
  score?: number;
  successScore?: number;
  success_score?: number;
  durationSeconds?: number;
  duration_seconds?: number;
  tokensUsed?: number;
  tokens_used?: number;
  errorMessage?: string;
  error_message?: string;
  metrics?: Record<string, unknown>;
}

export interface Stats {
  total_patterns: number;
  categories: Record<string, number>;
  strategies: Record<string, number>;
  avg_success_score: number;
  success_rate: number;
  observations: number;
  contradictions: number;
  index: {
    analyzer: string;
    vocabulary: number;
    postings: number;
    dense_vectors: number;
    dense_dim: number | null;
    vector_backend: string;
  };
  storage: { backend: string; location: string; fallback: string | null };
  runtime: string;
}

export interface ScoreWeights {
  similarity?: number;
  category?: number;
  context?: number;
  outcome?: number;
  lexical?: number;
  semantic?: number;
}

export interface LoadOptions {
  /** An IndexedDB name (default "reasoningbank") or ":memory:". */
  db?: string;
  /** true: the embedder the server announces; a string: a semantic asset URL. */
  semantic?: boolean | string;
  backend?: string;
  weights?: ScoreWeights;
  dedupThreshold?: number;
  halfLifeDays?: number;
  vectorBackend?: string;
  /** Where the Pyodide files are (default: the server's build-info.json). */
  indexURL?: string | URL;
  wheelURL?: string | URL;
  /** An already loaded Pyodide instance to run in. */
  pyodide?: unknown;
}

/** Marks (performance.now() ms) of the runtime's boot, and how long the open took. */
export interface BootTimings {
  start: number;
  pyodide: number;
  wheel: number;
  ready: number;
  open: number;
  [mark: string]: number;
}

// -- the closed loop (retrieve -> act -> judge -> distill -> consolidate) --------------------

/** One step of an agent's trajectory. */
export interface TrajectoryStep {
  thought?: string;
  action?: string;
  observation?: string;
}

/** Free text, steps, or {steps: [...]}. */
export type Trajectory = string | TrajectoryStep[] | { steps: TrajectoryStep[] };

/** Any model: prompt in, answer out (sync or async). */
export type LLM = (prompt: string) => string | Promise<string>;

export interface LearnOptions {
  category?: string | null;
  /** true/false or a score in [0, 1]: skips the judge. */
  outcome?: boolean | number | null;
  llm?: LLM | null;
}

export interface Verdict {
  success: boolean;
  score: number;
  reason: string;
  judged_by: "outcome" | "llm" | "heuristic";
}

/** A distilled memory: what to reuse (kind "success") or avoid (kind "failure"). */
export interface MemoryItem {
  title: string;
  description: string;
  content: string;
  kind: "success" | "failure";
  /** The originating task, trajectory_sha256, verdict, judged_by and model (when named). */
  provenance: Record<string, unknown>;
  /** Filled when the item comes from the bank: its pattern id, category, confidence, ... */
  id: string | null;
  category: string | null;
  confidence: number | null;
  /** Epoch seconds. */
  created_at: number | null;
  /** Hex key of the bank that signed it, when it arrived from another bank. */
  author: string | null;
}

export interface LearnReport {
  verdict: Verdict;
  items: MemoryItem[];
  /** Ids of the patterns the items were stored as. */
  ids: string[];
}

export interface RetrieveOptions {
  category?: string | null;
  k?: number;
  /** MMR diversification, 0 (off) to 1. */
  diversity?: number;
}

export interface MemoryPromptOptions {
  k?: number;
  category?: string | null;
  diversity?: number;
}

// -- errors and the bank -------------------------------------------------------------------

/** The library's errors keep its class name: InvalidPattern, NotFound, BankClosed, ... */
export class ReasoningBankError extends Error {
  constructor(init: { name: string; message: string; field?: string | null; patternId?: string | null });
  /** The offending field of an invalid input, when there is one. */
  readonly field: string | null;
  readonly patternId: string | null;
}

/** The page's shared Pyodide runtime (booted once; later options are ignored). */
export interface Runtime {
  pyodide: unknown;
  marks: { start: number; pyodide: number; wheel: number; ready: number; [mark: string]: number };
}

export function runtime(options?: Pick<LoadOptions, "indexURL" | "wheelURL" | "pyodide">): Promise<Runtime>;

export class ReasoningBank {
  private constructor();
  /** Open (creating if needed) a bank. */
  static load(options?: LoadOptions): Promise<ReasoningBank>;

  readonly db: string;
  timings: BootTimings;
  /** The Pyodide instance behind every bank on this page. */
  readonly pyodide: any;

  /** Resolves to the stored pattern's id. */
  storePattern(pattern: PatternInput): Promise<string>;
  /** One transaction; ids in order. */
  storePatterns(patterns: PatternInput[]): Promise<string[]>;
  /** Best first. */
  findSimilar(
    taskDescription: string,
    taskCategory?: string | null,
    topK?: number,
    options?: FindOptions,
  ): Promise<Match[]>;
  getPattern(id: string): Promise<Pattern | null>;
  /** Newest first. */
  searchByCategory(category: string, limit?: number): Promise<Pattern[]>;
  getStats(): Promise<Stats>;
  /** Resolves to the updated pattern. */
  recordOutcome(id: string, outcome?: OutcomeInput): Promise<Pattern>;
  recommendStrategy(taskDescription: string, taskCategory?: string | null): Promise<Recommendation | null>;
  deletePattern(id: string): Promise<null>;
  /** Judge a trajectory, distill memory items and store them. */
  learn(task: string, trajectory: Trajectory, options?: LearnOptions): Promise<LearnReport>;
  /** Memory items from the most similar past tasks. */
  retrieve(task: string, options?: RetrieveOptions): Promise<MemoryItem[]>;
  /** A block for a system prompt; memories are quoted as data, never as instructions. */
  memoryPrompt(task: string, options?: MemoryPromptOptions): Promise<string>;
  close(): Promise<void>;
}

export default ReasoningBank;
