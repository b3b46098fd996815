/**
 * Op-set reconciliation: what each side must send the other, in few bytes (docs/group-log.md).
 *
 * Range-based set reconciliation over the sorted op hashes. A message is a list of consecutive
 * ranges covering the whole hash space; each range is `skip` (already equal), `fingerprint`
 * (SHA-256 of the count and the XOR of its hashes, 16 bytes) or `ids` (the sender's hashes in it,
 * when it holds at most SYNC_LEAF_ITEMS there). A side answers a differing fingerprint by
 * splitting its items into SYNC_BRANCHES ranges, and an `ids` range by sending the ops the other
 * lacks and asking (`want`) for those it lacks. Equal sets finish after one 20-byte digest; a
 * difference of d ops costs O(d log n) fingerprints. A protocol is a thin loop around
 * `syncStart` and `syncRespond` that also ships the ops named in `send`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { invariant } from '../errors.ts';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.ts';
import { GroupError } from './errors.ts';
import { HASH_BYTES, toHex } from './ops.ts';

export const SYNC_VERSION = 1;
export const SYNC_BRANCHES = 16;
export const SYNC_LEAF_ITEMS = 8;
export const FINGERPRINT_BYTES = 16;
export const MAX_SYNC_MESSAGE_BYTES = 8 * 1024 * 1024;
export const MAX_SYNC_RANGES = 200_000;
export const MAX_SYNC_WANT = 200_000;
/** Rounds a reconciliation may take: log16 of a million plus slack. */
export const MAX_SYNC_ROUNDS = 32;

export type SyncRange =
  | { readonly upper: string; readonly mode: 'skip' }
  | { readonly upper: string; readonly mode: 'fingerprint'; readonly fingerprint: string }
  | { readonly upper: string; readonly mode: 'ids'; readonly ids: readonly string[] };

export interface SyncMessage {
  /** Consecutive ranges; `upper` is an exclusive bound (a hex prefix), '' for the end of the space. */
  readonly ranges: readonly SyncRange[];
  /** Hashes the sender lacks and asks the receiver to send. */
  readonly want: readonly string[];
}

/** A side's sorted hashes with their bytes (for fingerprints). */
export interface SyncIndex {
  readonly hashes: readonly string[];
  readonly bytes: Uint8Array;
  readonly has: ReadonlySet<string>;
}

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

function hexInto(hex: string, out: Uint8Array, offset: number): void {
  for (let i = 0; i < hex.length; i += 2) {
    const hi = HEX_VALUE[hex.charCodeAt(i)] ?? -1;
    const lo = HEX_VALUE[hex.charCodeAt(i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new GroupError('invalid-argument', `not lowercase hex: ${hex.slice(0, 80)}`);
    out[offset + (i >> 1)] = (hi << 4) | lo;
  }
}

export function syncIndex(hashes: Iterable<string>): SyncIndex {
  const sorted = [...new Set(hashes)].sort();
  const bytes = new Uint8Array(sorted.length * HASH_BYTES);
  sorted.forEach((h, i) => {
    if (typeof h !== 'string' || h.length !== HASH_BYTES * 2) {
      throw new GroupError('invalid-argument', `op hashes are ${HASH_BYTES * 2} hex characters`);
    }
    hexInto(h, bytes, i * HASH_BYTES);
  });
  return { hashes: sorted, bytes, has: new Set(sorted) };
}

/** First index with hashes[i] >= bound ('' = past the end). */
function lowerBound(hashes: readonly string[], bound: string): number {
  if (bound === '') return hashes.length;
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid]! < bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function rangeFingerprint(index: SyncIndex, from: number, to: number): string {
  const acc = new Uint8Array(4 + HASH_BYTES);
  const count = to - from;
  acc[0] = count >>> 24;
  acc[1] = (count >>> 16) & 0xff;
  acc[2] = (count >>> 8) & 0xff;
  acc[3] = count & 0xff;
  const b = index.bytes;
  for (let i = from; i < to; i++) {
    const base = i * HASH_BYTES;
    for (let j = 0; j < HASH_BYTES; j++) acc[4 + j]! ^= b[base + j]!;
  }
  return toHex(sha256(acc).subarray(0, FINGERPRINT_BYTES));
}

/** The shortest even-length prefix of `b` that is > `a` (a < b): a range bound between them. */
function separator(a: string, b: string): string {
  let i = 0;
  while (i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  invariant(i < b.length, 'separator needs a < b');
  const len = (i + 2) & ~1;
  return b.slice(0, len);
}

/** The opening message: one fingerprint over everything (the set digest). */
export function syncStart(index: SyncIndex): SyncMessage {
  return {
    ranges: [
      { upper: '', mode: 'fingerprint', fingerprint: rangeFingerprint(index, 0, index.hashes.length) },
    ],
    want: [],
  };
}

export interface SyncStep {
  /** The answer to send back, or null when reconciliation is complete. */
  readonly reply: SyncMessage | null;
  /** Ops (by hash) this side must send the other now. */
  readonly send: string[];
  /** Hashes this side learned it lacks (it asks for them in `reply.want`). */
  readonly need: string[];
}

export function syncRespond(index: SyncIndex, message: SyncMessage): SyncStep {
  const out: SyncRange[] = [];
  const send: string[] = [];
  const need: string[] = [];
  for (const h of message.want) if (index.has.has(h)) send.push(h);
  const { hashes } = index;
  let lower = 0;
  let lowerBoundText = '';
  const pushSkip = (upper: string): void => {
    const last = out[out.length - 1];
    if (last !== undefined && last.mode === 'skip') out[out.length - 1] = { upper, mode: 'skip' };
    else out.push({ upper, mode: 'skip' });
  };
  for (const range of message.ranges) {
    if (range.upper !== '' && lowerBoundText !== '' && range.upper <= lowerBoundText) {
      throw new GroupError('bad-encoding', 'sync ranges must ascend');
    }
    const upper = lowerBound(hashes, range.upper);
    const from = lower;
    lower = upper;
    lowerBoundText = range.upper;
    if (range.mode === 'skip') {
      pushSkip(range.upper);
    } else if (range.mode === 'ids') {
      const theirs = new Set(range.ids);
      for (const h of range.ids) if (!index.has.has(h)) need.push(h);
      for (let i = from; i < upper; i++) if (!theirs.has(hashes[i]!)) send.push(hashes[i]!);
      pushSkip(range.upper);
    } else if (rangeFingerprint(index, from, upper) === range.fingerprint) {
      pushSkip(range.upper);
    } else if (upper - from <= SYNC_LEAF_ITEMS) {
      out.push({ upper: range.upper, mode: 'ids', ids: hashes.slice(from, upper) });
    } else {
      const count = upper - from;
      const branches = Math.min(SYNC_BRANCHES, count); // count > branches keeps every bucket non-empty
      let start = from;
      for (let b = 1; b <= branches; b++) {
        const end = b === branches ? upper : from + Math.floor((b * count) / branches);
        const bound = b === branches ? range.upper : separator(hashes[end - 1]!, hashes[end]!);
        out.push({ upper: bound, mode: 'fingerprint', fingerprint: rangeFingerprint(index, start, end) });
        start = end;
      }
    }
  }
  if (lowerBoundText !== '')
    throw new GroupError('bad-encoding', 'sync ranges must end with the end of the space');
  const done = need.length === 0 && out.every((r) => r.mode === 'skip');
  return { reply: done ? null : { ranges: out, want: need }, send, need };
}

// ---------------------------------------------------------------------------------------------
// Wire form: [version, [[upper, mode, data]...], [want...]]; mode 0 skip (data 0), 1 fingerprint
// (data 16 bytes), 2 ids (data [32-byte hashes...]).

const hexToBytes = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length / 2);
  hexInto(hex, out, 0);
  return out;
};

export function encodeSyncMessage(message: SyncMessage): Uint8Array {
  if (message.ranges.length > MAX_SYNC_RANGES || message.want.length > MAX_SYNC_WANT) {
    throw new GroupError('too-large', 'a sync message has too many ranges or wants');
  }
  const ranges: CborValue[] = message.ranges.map((r) => [
    hexToBytes(r.upper),
    r.mode === 'skip' ? 0 : r.mode === 'fingerprint' ? 1 : 2,
    r.mode === 'skip' ? 0 : r.mode === 'fingerprint' ? hexToBytes(r.fingerprint) : r.ids.map(hexToBytes),
  ]);
  const bytes = encodeCbor([SYNC_VERSION, ranges, message.want.map(hexToBytes)]);
  if (bytes.length > MAX_SYNC_MESSAGE_BYTES)
    throw new GroupError('too-large', `sync message of ${bytes.length} bytes`);
  return bytes;
}

function syncFail(message: string): never {
  throw new GroupError('bad-encoding', `sync message: ${message}`);
}
function hashList(v: CborValue | undefined, max: number, what: string): string[] {
  if (!Array.isArray(v) || v.length > max) syncFail(`${what} must be an array of at most ${max} hashes`);
  return v.map((h) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES)
      syncFail(`${what} holds a hash that is not ${HASH_BYTES} bytes`);
    return toHex(h);
  });
}

export function decodeSyncMessage(bytes: Uint8Array): SyncMessage {
  if (!(bytes instanceof Uint8Array)) syncFail('must be a Uint8Array');
  if (bytes.length > MAX_SYNC_MESSAGE_BYTES)
    throw new GroupError('too-large', `sync message of ${bytes.length} bytes`);
  const v = decodeCbor(bytes, 'sync message');
  if (!Array.isArray(v) || v.length !== 3) syncFail('must be [version, ranges, want]');
  if (v[0] !== SYNC_VERSION)
    throw new GroupError('bad-version', `sync version ${String(v[0])} is not ${SYNC_VERSION}`);
  const rawRanges = v[1];
  if (!Array.isArray(rawRanges) || rawRanges.length === 0 || rawRanges.length > MAX_SYNC_RANGES) {
    syncFail(`ranges must be 1..${MAX_SYNC_RANGES} entries`);
  }
  let previous = '';
  const ranges = rawRanges.map((raw, i): SyncRange => {
    if (!Array.isArray(raw) || raw.length !== 3) syncFail(`range ${i} must be [upper, mode, data]`);
    const [u, mode, data] = raw;
    if (!(u instanceof Uint8Array) || u.length > HASH_BYTES)
      syncFail(`range ${i} upper must be at most ${HASH_BYTES} bytes`);
    const upper = toHex(u);
    const last = i === rawRanges.length - 1;
    if (last !== (upper === '')) syncFail('only the last range ends at the end of the space');
    if (!last && previous !== '' && upper <= previous) syncFail('ranges must ascend');
    previous = upper;
    if (mode === 0 && data === 0) return { upper, mode: 'skip' };
    if (mode === 1 && data instanceof Uint8Array && data.length === FINGERPRINT_BYTES) {
      return { upper, mode: 'fingerprint', fingerprint: toHex(data) };
    }
    if (mode === 2) return { upper, mode: 'ids', ids: hashList(data, MAX_SYNC_WANT, `range ${i} ids`) };
    return syncFail(`range ${i} has an unknown mode or bad data`);
  });
  return { ranges, want: hashList(v[2], MAX_SYNC_WANT, 'want') };
}

export interface ReconcileReport {
  /** Hashes A must send B and B must send A. */
  readonly aSends: string[];
  readonly bSends: string[];
  /** Messages exchanged (both directions) and their encoded bytes, ops not included. */
  readonly messages: number;
  readonly messageBytes: number;
}

/**
 * Runs the whole exchange between two in-memory sides (the loop a protocol runs over a stream),
 * through the wire encoding. Used by tests and the benchmark.
 */
export function reconcile(a: SyncIndex, b: SyncIndex): ReconcileReport {
  const sends = [new Set<string>(), new Set<string>()];
  const sides = [a, b];
  let message: SyncMessage | null = syncStart(a);
  let turn = 1;
  let messages = 0;
  let messageBytes = 0;
  for (let round = 0; message !== null; round++) {
    if (round > MAX_SYNC_ROUNDS)
      throw new Error(`engine invariant violated: sync took more than ${MAX_SYNC_ROUNDS} rounds`);
    const wire = encodeSyncMessage(message);
    messages++;
    messageBytes += wire.length;
    const step = syncRespond(sides[turn]!, decodeSyncMessage(wire));
    for (const h of step.send) sends[turn]!.add(h);
    message = step.reply;
    turn = 1 - turn;
  }
  return { aSends: [...sends[0]!].sort(), bSends: [...sends[1]!].sort(), messages, messageBytes };
}
