/**
 * Op-set reconciliation: what each side must send the other, in few bytes (docs/group-log.md).
 *
 * Two stages, both pure: the opener sends its set's digest (count and fingerprint) with a strata
 * estimator; equal sets stop there. Otherwise the answer is an invertible Bloom lookup table
 * (iblt.ts) sized for the estimated difference; the opener subtracts its own, peels out the
 * 8-byte hash prefixes each side lacks, sends its ops and asks (`want`) for the others. If the
 * table cannot be peeled (difference underestimated), both fall back to range-based set
 * reconciliation: consecutive ranges of the sorted hashes, each `skip`, `fingerprint` or `ids`,
 * split 16 ways where they differ. A protocol is a thin loop around `syncStart` and
 * `syncRespond` that also ships the ops named in `send`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { invariant } from '../errors.ts';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.ts';
import { GroupError } from './errors.ts';
import { estimateDifference, IBLT_HASHES, Iblt, MAX_IBLT_CELLS, STRATA_BYTES, strataBytes } from './iblt.ts';
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
/** Bytes of a hash prefix that name an op in the IBLT stage. */
export const PREFIX_BYTES = 8;
/** IBLT cells per estimated differing op, plus a fixed margin for small differences. */
export const IBLT_CELLS_PER_DIFFERENCE = 2;
export const IBLT_EXTRA_CELLS = 30;

export type SyncRange =
  | { readonly upper: string; readonly mode: 'skip' }
  | { readonly upper: string; readonly mode: 'fingerprint'; readonly fingerprint: string }
  | { readonly upper: string; readonly mode: 'ids'; readonly ids: readonly string[] };

export type SyncMessage =
  /** Count and fingerprint (the digest); no strata in the opening, a strata estimator in the answer. */
  | {
      readonly kind: 'estimate';
      readonly count: number;
      readonly fingerprint: string;
      readonly strata: Uint8Array;
    }
  /** An IBLT of the sender's hash prefixes, `cells` cells. */
  | { readonly kind: 'iblt'; readonly cells: number; readonly table: Uint8Array }
  /** 16-hex-character hash prefixes the sender lacks: the receiver sends those ops. */
  | { readonly kind: 'want'; readonly prefixes: readonly string[] }
  /** Range-based reconciliation: consecutive ranges (`upper` an exclusive hex-prefix bound, '' for
   * the end of the space) and hashes the sender lacks. */
  | { readonly kind: 'ranges'; readonly ranges: readonly SyncRange[]; readonly want: readonly string[] };

/** A side's sorted hashes with their bytes (for fingerprints). */
export interface SyncIndex {
  readonly hashes: readonly string[];
  readonly bytes: Uint8Array;
  readonly has: ReadonlySet<string>;
  /** Hash by its first PREFIX_BYTES bytes (hex); null when two hashes share a prefix. */
  readonly byPrefix: ReadonlyMap<string, string> | null;
  readonly keysHi: Uint32Array;
  readonly keysLo: Uint32Array;
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
  const byPrefix = new Map<string, string>();
  const keysHi = new Uint32Array(sorted.length);
  const keysLo = new Uint32Array(sorted.length);
  const view = new DataView(bytes.buffer);
  sorted.forEach((h, i) => {
    byPrefix.set(h.slice(0, PREFIX_BYTES * 2), h);
    keysHi[i] = view.getUint32(i * HASH_BYTES);
    keysLo[i] = view.getUint32(i * HASH_BYTES + 4);
  });
  return {
    hashes: sorted,
    bytes,
    has: new Set(sorted),
    byPrefix: byPrefix.size === sorted.length ? byPrefix : null,
    keysHi,
    keysLo,
  };
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

/** The opening message: the set's count and fingerprint (its digest), without strata. */
export function syncStart(index: SyncIndex): SyncMessage {
  return {
    kind: 'estimate',
    count: index.hashes.length,
    fingerprint: rangeFingerprint(index, 0, index.hashes.length),
    strata: new Uint8Array(0),
  };
}

/** The first range-based message: one fingerprint over everything. */
function rangesStart(index: SyncIndex): SyncMessage {
  const fingerprint = rangeFingerprint(index, 0, index.hashes.length);
  return { kind: 'ranges', ranges: [{ upper: '', mode: 'fingerprint', fingerprint }], want: [] };
}

function ibltOf(index: SyncIndex, cells: number): Iblt {
  const t = new Iblt(cells);
  const scratch = new Int32Array(IBLT_HASHES);
  for (let i = 0; i < index.keysHi.length; i++) t.add(index.keysHi[i]!, index.keysLo[i]!, 1, scratch);
  return t;
}

const prefixHex = (hi: number, lo: number): string =>
  hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');

export interface SyncStep {
  /** The answer to send back, or null when reconciliation is complete. */
  readonly reply: SyncMessage | null;
  /** Ops (by hash) this side must send the other now. */
  readonly send: string[];
}

export function syncRespond(index: SyncIndex, message: SyncMessage): SyncStep {
  switch (message.kind) {
    case 'estimate': {
      const n = index.hashes.length;
      const fingerprint = rangeFingerprint(index, 0, n);
      if (message.count === n && message.fingerprint === fingerprint) return { reply: null, send: [] };
      // The opener sends its digest alone (equal sets stop at once); the answer carries strata.
      if (message.strata.length === 0) {
        return {
          reply: { kind: 'estimate', count: n, fingerprint, strata: strataBytes(index.keysHi, index.keysLo) },
          send: [],
        };
      }
      const estimate = estimateDifference(strataBytes(index.keysHi, index.keysLo), message.strata);
      const wanted =
        IBLT_CELLS_PER_DIFFERENCE * Math.max(estimate, Math.abs(message.count - n)) + IBLT_EXTRA_CELLS;
      const cells = Math.ceil(wanted / IBLT_HASHES) * IBLT_HASHES;
      if (cells > MAX_IBLT_CELLS || index.byPrefix === null) return { reply: rangesStart(index), send: [] };
      return { reply: { kind: 'iblt', cells, table: ibltOf(index, cells).toBytes() }, send: [] };
    }
    case 'iblt': {
      const difference = ibltOf(index, message.cells)
        .subtract(Iblt.fromBytes(message.table, message.cells))
        .decode();
      const send: string[] = [];
      let known = difference.complete && index.byPrefix !== null;
      for (const [hi, lo] of difference.plus) {
        const hash = index.byPrefix?.get(prefixHex(hi, lo));
        if (hash === undefined) known = false;
        else send.push(hash);
      }
      // A table that did not peel, or peeled into a prefix we do not hold: fall back to ranges.
      if (!known) return { reply: rangesStart(index), send: [] };
      const prefixes = difference.minus.map(([hi, lo]) => prefixHex(hi, lo));
      return { reply: prefixes.length === 0 ? null : { kind: 'want', prefixes }, send };
    }
    case 'want': {
      const send: string[] = [];
      for (const p of message.prefixes) {
        const hash = index.byPrefix?.get(p);
        if (hash !== undefined) send.push(hash);
      }
      return { reply: null, send };
    }
    case 'ranges':
      return respondToRanges(index, message.ranges, message.want);
  }
}

function respondToRanges(index: SyncIndex, ranges: readonly SyncRange[], want: readonly string[]): SyncStep {
  const out: SyncRange[] = [];
  const send: string[] = [];
  const need: string[] = [];
  for (const h of want) if (index.has.has(h)) send.push(h);
  const { hashes } = index;
  let lower = 0;
  let lowerBoundText = '';
  const pushSkip = (upper: string): void => {
    const last = out[out.length - 1];
    if (last !== undefined && last.mode === 'skip') out[out.length - 1] = { upper, mode: 'skip' };
    else out.push({ upper, mode: 'skip' });
  };
  for (const range of ranges) {
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
  return { reply: done ? null : { kind: 'ranges', ranges: out, want: need }, send };
}

// ---------------------------------------------------------------------------------------------
// Wire form, pb-cbor: [version = 1, kind, ...]
//   kind 0 ranges:   [1, 0, [[upper, mode, data]...], [want: bytes(32)...]]
//                    mode 0 skip (data 0), 1 fingerprint (data bytes(16)), 2 ids (data [bytes(32)...])
//   kind 1 estimate: [1, 1, count, fingerprint: bytes(16), strata: bytes(STRATA_BYTES)]
//   kind 2 iblt:     [1, 2, cells, table: bytes(16 * cells)]
//   kind 3 want:     [1, 3, [prefix: bytes(8)...]]

const hexToBytes = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length / 2);
  hexInto(hex, out, 0);
  return out;
};

export function encodeSyncMessage(message: SyncMessage): Uint8Array {
  let value: CborValue;
  switch (message.kind) {
    case 'ranges':
      if (message.ranges.length > MAX_SYNC_RANGES || message.want.length > MAX_SYNC_WANT) {
        throw new GroupError('too-large', 'a sync message has too many ranges or wants');
      }
      value = [
        SYNC_VERSION,
        0,
        message.ranges.map((r) => [
          hexToBytes(r.upper),
          r.mode === 'skip' ? 0 : r.mode === 'fingerprint' ? 1 : 2,
          r.mode === 'skip'
            ? 0
            : r.mode === 'fingerprint'
              ? hexToBytes(r.fingerprint)
              : r.ids.map(hexToBytes),
        ]),
        message.want.map(hexToBytes),
      ];
      break;
    case 'estimate':
      value = [SYNC_VERSION, 1, message.count, hexToBytes(message.fingerprint), message.strata];
      break;
    case 'iblt':
      value = [SYNC_VERSION, 2, message.cells, message.table];
      break;
    case 'want':
      if (message.prefixes.length > MAX_SYNC_WANT)
        throw new GroupError('too-large', 'a sync message wants too many ops');
      value = [SYNC_VERSION, 3, message.prefixes.map(hexToBytes)];
      break;
  }
  const bytes = encodeCbor(value);
  if (bytes.length > MAX_SYNC_MESSAGE_BYTES)
    throw new GroupError('too-large', `sync message of ${bytes.length} bytes`);
  return bytes;
}

function syncFail(message: string): never {
  throw new GroupError('bad-encoding', `sync message: ${message}`);
}
function byteList(v: CborValue | undefined, length: number, max: number, what: string): string[] {
  if (!Array.isArray(v) || v.length > max) syncFail(`${what} must be an array of at most ${max} entries`);
  return v.map((h) => {
    if (!(h instanceof Uint8Array) || h.length !== length)
      syncFail(`${what} holds an entry that is not ${length} bytes`);
    return toHex(h);
  });
}

export function decodeSyncMessage(bytes: Uint8Array): SyncMessage {
  if (!(bytes instanceof Uint8Array)) syncFail('must be a Uint8Array');
  if (bytes.length > MAX_SYNC_MESSAGE_BYTES)
    throw new GroupError('too-large', `sync message of ${bytes.length} bytes`);
  const v = decodeCbor(bytes, 'sync message');
  if (!Array.isArray(v) || v.length < 2) syncFail('must be [version, kind, ...]');
  if (v[0] !== SYNC_VERSION)
    throw new GroupError('bad-version', `sync version ${String(v[0])} is not ${SYNC_VERSION}`);
  switch (v[1]) {
    case 0:
      if (v.length !== 4) syncFail('a ranges message is [1, 0, ranges, want]');
      return {
        kind: 'ranges',
        ranges: decodeRanges(v[2]),
        want: byteList(v[3], HASH_BYTES, MAX_SYNC_WANT, 'want'),
      };
    case 1: {
      const [, , count, fingerprint, strata] = v;
      if (v.length !== 5 || typeof count !== 'number')
        syncFail('an estimate message is [1, 1, count, fingerprint, strata]');
      if (!(fingerprint instanceof Uint8Array) || fingerprint.length !== FINGERPRINT_BYTES) {
        syncFail(`the fingerprint must be ${FINGERPRINT_BYTES} bytes`);
      }
      if (!(strata instanceof Uint8Array) || (strata.length !== STRATA_BYTES && strata.length !== 0)) {
        syncFail(`the strata must be ${STRATA_BYTES} bytes (none in the opening)`);
      }
      return { kind: 'estimate', count, fingerprint: toHex(fingerprint), strata };
    }
    case 2: {
      const [, , cells, table] = v;
      if (v.length !== 4 || typeof cells !== 'number' || !(table instanceof Uint8Array)) {
        syncFail('an iblt message is [1, 2, cells, table]');
      }
      if (cells < IBLT_HASHES || cells % IBLT_HASHES !== 0 || cells > MAX_IBLT_CELLS) {
        syncFail(`an IBLT has a multiple of ${IBLT_HASHES} cells up to ${MAX_IBLT_CELLS}`);
      }
      if (table.length !== cells * 16) syncFail(`an IBLT of ${cells} cells is ${cells * 16} bytes`);
      return { kind: 'iblt', cells, table };
    }
    case 3:
      if (v.length !== 3) syncFail('a want message is [1, 3, prefixes]');
      return { kind: 'want', prefixes: byteList(v[2], PREFIX_BYTES, MAX_SYNC_WANT, 'prefixes') };
    default:
      return syncFail(`unknown kind ${String(v[1])}`);
  }
}

function decodeRanges(rawRanges: CborValue | undefined): SyncRange[] {
  if (!Array.isArray(rawRanges) || rawRanges.length === 0 || rawRanges.length > MAX_SYNC_RANGES) {
    syncFail(`ranges must be 1..${MAX_SYNC_RANGES} entries`);
  }
  let previous = '';
  return rawRanges.map((raw, i): SyncRange => {
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
    if (mode === 2)
      return { upper, mode: 'ids', ids: byteList(data, HASH_BYTES, MAX_SYNC_WANT, `range ${i} ids`) };
    return syncFail(`range ${i} has an unknown mode or bad data`);
  });
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
 * through the wire encoding, A opening with `opening` (normally `syncStart(a)`). Used by tests
 * and the benchmark.
 */
export function reconcile(a: SyncIndex, b: SyncIndex, opening: SyncMessage = syncStart(a)): ReconcileReport {
  const sends = [new Set<string>(), new Set<string>()];
  const sides = [a, b];
  let message: SyncMessage | null = opening;
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
