import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSyncMessage,
  EngineError,
  encodeSyncMessage,
  Iblt,
  rangeFingerprint,
  reconcile,
  STRATA_BYTES,
  syncIndex,
  syncRespond,
  syncStart,
  toHex,
} from '../../../engine/index.ts';

const hashOf = (n: number) => toHex(sha256(new TextEncoder().encode(`op-${n}`)));
const difference = (a: string[], b: string[]) => {
  const other = new Set(b);
  return a.filter((h) => !other.has(h)).sort();
};

describe('op-set reconciliation', () => {
  it('finds exactly what each side lacks, for any two sets', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(5000), { maxLength: 600 }),
        fc.uniqueArray(fc.nat(5000), { maxLength: 600 }),
        fc.uniqueArray(fc.nat(5000), { maxLength: 600 }),
        (shared, onlyA, onlyB) => {
          const a = [...shared, ...onlyA].map(hashOf);
          const b = [...shared, ...onlyB].map(hashOf);
          const report = reconcile(syncIndex(a), syncIndex(b));
          expect(report.aSends).toEqual(difference(a, b));
          expect(report.bSends).toEqual(difference(b, a));
          // the range-based stage alone (what an unpeelable IBLT falls back to) finds the same
          const ranges = reconcile(syncIndex(a), syncIndex(b), {
            kind: 'ranges',
            ranges: [
              { upper: '', mode: 'fingerprint', fingerprint: rangeFingerprint(syncIndex(a), 0, a.length) },
            ],
            want: [],
          });
          expect(ranges.aSends).toEqual(report.aSends);
          expect(ranges.bSends).toEqual(report.bSends);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an IBLT too small to peel falls back to ranges and still finds the difference', () => {
    const shared = Array.from({ length: 2000 }, (_, i) => hashOf(i));
    const a = syncIndex([...shared, ...Array.from({ length: 300 }, (_, i) => hashOf(-1 - i))]);
    const b = syncIndex(shared.slice(100));
    const tooSmall = { kind: 'iblt', cells: 30, table: new Iblt(30).toBytes() } as const;
    const step = syncRespond(b, tooSmall);
    expect(step.reply?.kind).toBe('ranges');
    const report = reconcile(a, b, { kind: 'iblt', cells: 30, table: new Iblt(30).toBytes() });
    expect(report.aSends).toEqual(difference(a.hashes as string[], b.hashes as string[]));
    expect(report.bSends).toEqual([]);
  });

  it('equal sets cost one message carrying the digest', () => {
    const a = Array.from({ length: 3000 }, (_, i) => hashOf(i));
    const report = reconcile(syncIndex(a), syncIndex([...a].reverse()));
    expect(report).toEqual({ aSends: [], bSends: [], messages: 1, messageBytes: report.messageBytes });
    expect(report.messageBytes).toBeLessThan(40);
  });

  it('a few differences among thousands cost far less than listing the hashes', () => {
    const shared = Array.from({ length: 5000 }, (_, i) => hashOf(i));
    const a = [...shared, hashOf(-1), hashOf(-2)];
    const b = [...shared, hashOf(-3)];
    const report = reconcile(syncIndex(a), syncIndex(b));
    expect(report.aSends).toEqual([hashOf(-1), hashOf(-2)].sort());
    expect(report.bSends).toEqual([hashOf(-3)]);
    expect(report.messages).toBe(4); // digest, strata, IBLT, want
    expect(report.messageBytes).toBeLessThan(STRATA_BYTES + 2000);
  });

  it('round-trips messages and refuses malformed ones with typed errors', () => {
    const index = syncIndex(Array.from({ length: 100 }, (_, i) => hashOf(i)));
    const start = syncStart(index);
    expect(decodeSyncMessage(encodeSyncMessage(start))).toEqual(start);
    for (const other of [[hashOf(1)], [hashOf(1), hashOf(-5)]]) {
      let message = syncRespond(syncIndex(other), start).reply;
      while (message !== null) {
        expect(decodeSyncMessage(encodeSyncMessage(message))).toEqual(message);
        message = syncRespond(index, message).reply;
      }
    }
    const bad = [
      { kind: 'ranges', ranges: [], want: [] },
      { kind: 'ranges', ranges: [{ upper: 'aa', mode: 'skip' }], want: [] },
      { kind: 'iblt', cells: 4, table: new Uint8Array(64) },
      { kind: 'estimate', count: 1, fingerprint: '00'.repeat(16), strata: new Uint8Array(10) },
      {
        kind: 'ranges',
        ranges: [
          { upper: 'bb', mode: 'skip' },
          { upper: 'aa', mode: 'skip' },
          { upper: '', mode: 'skip' },
        ],
        want: [],
      },
    ] as const;
    for (const message of bad) {
      expect(() => decodeSyncMessage(encodeSyncMessage(message))).toThrow(EngineError);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeSyncMessage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(EngineError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
