import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSyncMessage,
  EngineError,
  encodeSyncMessage,
  reconcile,
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
        },
      ),
      { numRuns: 60 },
    );
  });

  it('equal sets cost one message carrying the digest', () => {
    const a = Array.from({ length: 3000 }, (_, i) => hashOf(i));
    const report = reconcile(syncIndex(a), syncIndex([...a].reverse()));
    expect(report).toEqual({ aSends: [], bSends: [], messages: 1, messageBytes: report.messageBytes });
    expect(report.messageBytes).toBeLessThan(32);
  });

  it('a few differences among thousands cost far less than listing the hashes', () => {
    const shared = Array.from({ length: 5000 }, (_, i) => hashOf(i));
    const a = [...shared, hashOf(-1), hashOf(-2)];
    const b = [...shared, hashOf(-3)];
    const report = reconcile(syncIndex(a), syncIndex(b));
    expect(report.aSends).toEqual([hashOf(-1), hashOf(-2)].sort());
    expect(report.bSends).toEqual([hashOf(-3)]);
    expect(report.messageBytes).toBeLessThan((5000 * 32) / 20);
  });

  it('round-trips messages and refuses malformed ones with typed errors', () => {
    const index = syncIndex(Array.from({ length: 100 }, (_, i) => hashOf(i)));
    const start = syncStart(index);
    expect(decodeSyncMessage(encodeSyncMessage(start))).toEqual(start);
    const step = syncRespond(syncIndex([hashOf(1)]), start);
    expect(decodeSyncMessage(encodeSyncMessage(step.reply!))).toEqual(step.reply);
    const bad = [
      { ranges: [], want: [] },
      { ranges: [{ upper: 'aa', mode: 'skip' }], want: [] },
      {
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
