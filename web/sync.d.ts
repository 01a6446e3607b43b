// Types for web/sync.js: a page's bank on the neural bus (BusSync), and the PWA's wiring.
import type { ReasoningBank } from "./reasoningbank.js";

/** Errors of the bus link keep their class name (SyncError, BusError, ...). */
export class BusSyncError extends Error {
  constructor(init: { name: string; message: string });
}

export interface BusPeer {
  /** Hex public key. */
  key: string;
  label: string;
  transport: string;
}

/** Received patterns refused, by reason: untrusted, forged, malformed, quota, full. */
export type Rejections = Partial<Record<"untrusted" | "forged" | "malformed" | "quota" | "full", number>> &
  Record<string, number>;

export interface BusStatus {
  state: "connecting" | "online" | "offline" | "refused" | "stopped" | string;
  transport: "webtransport" | "websocket" | null;
  hub: string;
  hubKey: string | null;
  identity: string;
  peers: BusPeer[];
  known: number;
  authors: string[];
  shared: number;
  pending: number;
  sent: number;
  imported: number;
  rejected: Rejections;
  connects: number;
  attempts: number;
  lastError: string | null;
  lastSync: number | null;
  synced: boolean;
  [more: string]: unknown;
}

export interface BusStartOptions {
  /** https://HOST:PORT/bus (WebTransport) or ws://HOST:PORT/bus. */
  hub: string;
  /** SHA-256 (hex) of the hub's certificate, as `reasoningbank hub` prints it. */
  certHash?: string;
  wsUrl?: string;
  prefer?: "auto" | "webtransport" | "websocket";
  label?: string;
  /** Hex keys to add to the trust list. */
  trust?: string[];
  identityDb?: string;
  backoffBase?: number;
  backoffMax?: number;
  syncEvery?: number;
  timeout?: number;
  trustPoll?: number;
}

/** The trust list: hex key -> its label. */
export type TrustList = Record<string, { label: string }>;

export class BusSync {
  private constructor();
  readonly handle: number;
  /** The latest status. */
  last: BusStatus;
  static start(rb: ReasoningBank, options: BusStartOptions): Promise<BusSync>;
  /** This browser's public key (hex). */
  static identity(rb: ReasoningBank, identityDb?: string): Promise<string>;
  /** Resolves to how many keys were new. */
  static trustKeys(rb: ReasoningBank, keys: string[], identityDb?: string): Promise<number>;
  static trustedKeys(rb: ReasoningBank, identityDb?: string): Promise<TrustList>;
  /** Called on every change of state, peers or counts; returns an unsubscribe function. */
  onChange(fn: (status: BusStatus) => void): () => boolean;
  status(): Promise<BusStatus>;
  /** Resolves to how many patterns were handed to the link. */
  share(ids?: string[] | null): Promise<number>;
  /** Share, then anti-entropy with the hub; waits for a connection up to `timeout` s. */
  syncNow(timeout?: number): Promise<BusStatus>;
  trust(key: string, label?: string): Promise<boolean>;
  untrust(key: string): Promise<boolean>;
  trusted(): Promise<TrustList>;
  stop(): Promise<null>;
}

/** A call of the page's bus dispatcher that needs no link (trust list, bundles). */
export function pageCall(rb: ReasoningBank, method: string, ...args: unknown[]): Promise<any>;

/** Wire the PWA's sharing controls and consider a link's ?hub= / ?trust= (asking first). */
export function attach(rb: ReasoningBank, params?: URLSearchParams): Promise<BusSync | null>;
export function sharing(rb: ReasoningBank): Promise<{ bus: BusSync | null }>;
/** Tell where patterns go from the remembered setting, before the runtime is up. */
export function previewSharing(): void;
