/**
 * Per-peer path health (docs/nat.md, "Path health"): how each member is reached now (the open
 * connections' paths: direct, relay, WebRTC), when a shard request to it last succeeded or
 * failed (and why), and the rate of its recent transfers. `RemoteShardStore` notes every request
 * against the node it runs on; the daemon keeps one `PeerHealth` per node and status shows it.
 * Bounded: at most MAX_PEERS peers (the oldest go), TRANSFER_SAMPLES transfers each.
 */
import { type ConnectionPath, connectionPath } from '../../engine/index.ts';

/** Peers tracked (a group is small; strangers never reach the shard client). */
export const MAX_PEERS = 1000;
/** Transfers kept per peer for its rate. */
export const TRANSFER_SAMPLES = 16;
/** Transfers smaller than this say little about the path's rate (a round trip dominates). */
export const RATE_MIN_BYTES = 64 * 1024;
/** Transfers older than this no longer count for the rate. */
export const RATE_WINDOW_MS = 10 * 60_000;
/** Bound on a failure's text. */
const MAX_ERROR_CHARS = 200;

export interface TransferNote {
  readonly peer: string;
  /** Body bytes moved (a put's or a get's shard); 0 for small requests. */
  readonly bytes: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly error?: string;
}

export interface PeerHealthView {
  /** The paths of the open connections, best first (direct, WebRTC, relay); empty: none open. */
  readonly via: readonly ConnectionPath[];
  readonly lastOkMs: number | null;
  readonly lastFailure: { readonly atMs: number; readonly error: string } | null;
  /** Bytes per second over the recent large transfers; null without one. */
  readonly bytesPerSecond: number | null;
}

const observers = new WeakMap<object, (note: TransferNote) => void>();

/** Routes the transfer notes of `node`'s shard clients to `fn` (one observer per node). */
export function observeTransfers(node: object, fn: (note: TransferNote) => void): void {
  observers.set(node, fn);
}

/** Called by the shard client after each request. */
export function noteTransfer(node: object, note: TransferNote): void {
  observers.get(node)?.(note);
}

const PATH_ORDER: readonly ConnectionPath[] = ['direct', 'webrtc', 'relay'];

/** The distinct paths of connections with these remote addresses, best first. */
export function pathsOf(remoteAddrs: readonly string[]): ConnectionPath[] {
  const seen = new Set(remoteAddrs.map(connectionPath));
  return PATH_ORDER.filter((p) => seen.has(p));
}

interface PeerRecord {
  lastOkMs: number | null;
  lastFailure: { atMs: number; error: string } | null;
  samples: { atMs: number; bytes: number; ms: number }[];
}

export class PeerHealth {
  private readonly peers = new Map<string, PeerRecord>();

  record(note: TransferNote, nowMs: number): void {
    if (!(note.bytes >= 0) || !(note.ms >= 0))
      throw new Error(`peer health: bad transfer note ${JSON.stringify(note)}`);
    let rec = this.peers.get(note.peer);
    if (rec === undefined) {
      rec = { lastOkMs: null, lastFailure: null, samples: [] };
      if (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value!);
    } else this.peers.delete(note.peer); // re-inserted: the map's order is the recency
    this.peers.set(note.peer, rec);
    if (!note.ok) {
      rec.lastFailure = { atMs: nowMs, error: (note.error ?? 'failed').slice(0, MAX_ERROR_CHARS) };
      return;
    }
    rec.lastOkMs = nowMs;
    if (note.bytes < RATE_MIN_BYTES) return;
    rec.samples.push({ atMs: nowMs, bytes: note.bytes, ms: Math.max(1, note.ms) });
    if (rec.samples.length > TRANSFER_SAMPLES) rec.samples.shift();
  }

  /** The view of `peer` given the remote addresses of its open connections. */
  view(peer: string, remoteAddrs: readonly string[], nowMs: number): PeerHealthView {
    const rec = this.peers.get(peer);
    const recent = (rec?.samples ?? []).filter((s) => nowMs - s.atMs <= RATE_WINDOW_MS);
    const bytes = recent.reduce((n, s) => n + s.bytes, 0);
    const ms = recent.reduce((n, s) => n + s.ms, 0);
    return {
      via: pathsOf(remoteAddrs),
      lastOkMs: rec?.lastOkMs ?? null,
      lastFailure: rec?.lastFailure ?? null,
      bytesPerSecond: recent.length === 0 ? null : Math.round((bytes * 1000) / ms),
    };
  }
}
