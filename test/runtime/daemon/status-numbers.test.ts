/**
 * The status numbers that used to lie (docs/status.md): the upload rate from a meaningful sample
 * (never a trickle, "unknown" an answer), the owner's shard holders following the members'
 * listings after repairs, one sighting rule for repair, status and alerts, a deleted directory
 * with a restore hint, the pending check's age, the members' addresses and the size explained.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  availabilityOf,
  type CountedStripe,
  estimatedDoneMs,
  lastSeenOf,
  MIN_SAMPLE_BYTES,
  memberSightings,
  relocateShards,
  sampleRate,
  uploadSample,
} from '../../../engine/index.ts';
import {
  buildStatusReport,
  NO_REPAIR,
  type StatusInput,
} from '../../../runtime/daemon/status/status-report.ts';
import { renderStatusText } from '../../../runtime/daemon/status/status-text.ts';
import { validate } from './_schema.ts';

const schema = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../../docs/status.schema.json'), 'utf8'),
) as Record<string, unknown>;
const MiB = 1024 * 1024;
const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

describe('upload rate: the backups own average over enough bytes', () => {
  it('a big backup sets the rate; a small incremental one after it does not drag it to a trickle', () => {
    // 64 stripes of 1 MiB, one a second: 1 MiB/s.
    const big = Array.from({ length: 64 }, (_, i) => ({ atMs: NOW - 2 * HOUR + i * 1000, dataBytes: MiB }));
    expect(sampleRate(uploadSample(big))).toBeCloseTo(MiB, -3);
    // An hour later, two small stripes 40 s apart (mostly scanning): 1.2 KiB over 40 s alone.
    const small = [
      { atMs: NOW - 40_000, dataBytes: 600 },
      { atMs: NOW, dataBytes: 600 },
    ];
    expect(uploadSample(small)).toBeNull();
    const rate = sampleRate(uploadSample([...big, ...small]))!;
    // The small run adds 600 B over 40 s to 63 MiB over 63 s: still about 0.6 MiB/s, not 15 B/s.
    expect(rate).toBeGreaterThan(0.5 * MiB);
    expect(rate).toBeLessThan(MiB * 1.01);
  });

  it('less than the minimum sample, or no time: unknown', () => {
    expect(uploadSample([])).toBeNull();
    expect(uploadSample([{ atMs: NOW, dataBytes: 100 * MiB }])).toBeNull();
    const few = Array.from({ length: 5 }, (_, i) => ({ atMs: NOW + i * 1000, dataBytes: MiB }));
    expect(uploadSample(few)).toBeNull(); // 4 MiB counted < MIN_SAMPLE_BYTES
    expect(MIN_SAMPLE_BYTES).toBe(8 * MiB);
    expect(estimatedDoneMs(100, null, NOW)).toBeNull();
    expect(estimatedDoneMs(0, MiB, NOW)).toBeNull();
    expect(estimatedDoneMs(MiB, MiB, NOW)).toBe(NOW + 1000);
  });
});

describe('the owner follows repairs: index rows against the listings', () => {
  const rows = [
    { seq: 1, idx: 0, shardId: 'a0', member: 'b' },
    { seq: 1, idx: 1, shardId: 'a1', member: 'c' },
    { seq: 1, idx: 2, shardId: 'a2', member: 'gone' },
    { seq: 2, idx: 0, shardId: 'b0', member: 'b' },
  ];
  it('a shard rebuilt elsewhere moves to the member listing it; one nobody lists stays', () => {
    const where = new Map([
      ['a0', ['b']],
      ['a1', ['c']],
      ['a2', ['d']],
    ]);
    const r = relocateShards(rows, where, new Set(['b', 'c', 'd']));
    expect(r.moves).toEqual([{ seq: 1, idx: 2, shardId: 'a2', from: 'gone', to: 'd' }]);
    expect(r.missing).toBe(1); // b0: b listed, without it
    expect(r.gone).toEqual([rows[3]]);
  });
  it('a shard that migrated to a member since removed is gone, not back at the holder it left', () => {
    // a2 was recorded at c, migrated to e; e is removed (its listing dropped) and c lists without
    // it: status must count it as lost. Had c not listed (offline), the row stays at c.
    const moved = [{ seq: 1, idx: 2, shardId: 'a2', member: 'c' }];
    const where = new Map([['a0', ['b']]]);
    expect(relocateShards(moved, where, new Set(['b', 'c'])).gone).toEqual(moved);
    expect(relocateShards(moved, where, new Set(['b'])).gone).toEqual([]);
  });
  it('a listing asked before the stripe was committed is no evidence that its shard is gone', () => {
    const fresh = [{ seq: 3, idx: 0, shardId: 'c0', member: 'b', createdMs: 1_000 }];
    const none = new Map<string, string[]>();
    expect(relocateShards(fresh, none, new Set(['b']), new Map([['b', 999]])).gone).toEqual([]);
    expect(relocateShards(fresh, none, new Set(['b']), new Map([['b', 1_001]])).gone).toEqual(fresh);
    expect(relocateShards(fresh, none, new Set(['b']), new Map()).gone).toEqual([]);
  });
  it('prefers a member holding no other shard of the stripe', () => {
    const r = relocateShards(rows.slice(0, 3), new Map([['a2', ['b', 'e']]]), new Set(['b', 'e']));
    expect(r.moves[0]!.to).toBe('e');
  });
});

describe('one sighting rule for repair, status and alerts', () => {
  const clock = { nowMs: NOW, trackingSinceMs: NOW - 2 * HOUR, onlineWindowMs: 15 * 60_000 };
  it('heard from: its sighting; never heard from: from the later of join and tracking, never online', () => {
    expect(lastSeenOf({ id: 'x', seenMs: NOW - 1000, joinedAtMs: 0 }, clock)).toBe(NOW - 1000);
    expect(lastSeenOf({ id: 'x', seenMs: null, joinedAtMs: NOW - 5 * HOUR }, clock)).toBe(NOW - 2 * HOUR);
    expect(lastSeenOf({ id: 'x', seenMs: null, joinedAtMs: NOW - 60_000 }, clock)).toBe(
      NOW - 15 * 60_000 - 1,
    );
    const times = { nowMs: NOW, graceMs: 3 * HOUR, onlineWindowMs: 15 * 60_000 };
    const [self, fresh] = memberSightings(
      [
        { id: 'me', seenMs: null, joinedAtMs: null },
        { id: 'new', seenMs: null, joinedAtMs: NOW - 60_000 },
      ],
      'me',
      clock,
    );
    expect(availabilityOf(self, times)).toBe('online');
    expect(availabilityOf(fresh, times)).toBe('away');
    // The repair planner (window 0) and status (window 15 min) declare it lost at the same moment.
    const later = { ...clock, nowMs: NOW + 3 * HOUR };
    const forRepair = lastSeenOf(
      { id: 'n', seenMs: null, joinedAtMs: null },
      { ...later, onlineWindowMs: 0 },
    );
    const forStatus = lastSeenOf({ id: 'n', seenMs: null, joinedAtMs: null }, later);
    expect(forRepair).toBe(forStatus);
  });
});

function input(over: Partial<StatusInput> = {}): StatusInput {
  const members = [
    { id: 'alice', name: 'alice', pledgeBytes: 100e6, addresses: ['/ip4/10.0.0.1/tcp/4001/p2p/alice'] },
    { id: 'bob', name: 'bob', pledgeBytes: 100e6, addresses: ['/ip4/10.0.0.2/tcp/4001/p2p/bob'] },
    { id: 'carol', name: 'carol', pledgeBytes: 100e6, addresses: [] },
  ];
  const stripes: CountedStripe[] = [
    {
      stripeId: 's',
      owner: 'alice',
      dataShards: 1,
      parityShards: 1,
      shardBytes: 1e6,
      holders: ['bob', 'carol'],
      count: 10,
    },
  ];
  return {
    nowMs: NOW,
    startedAtMs: NOW - HOUR,
    self: { id: 'alice', name: 'alice' },
    groupId: 'a'.repeat(64),
    isMember: true,
    agreement: { ratio: 2, tolerance: 1 },
    members,
    requests: [],
    stripes,
    lastSeenMs: new Map([
      ['bob', NOW - 1000],
      ['carol', NOW - 1000],
    ]),
    connected: new Set(['bob', 'carol']),
    usage: new Map(),
    store: { pledgeBytes: 100e6, storedBytes: 0, reservationBytes: 0 },
    backup: {
      directories: ['/home/alice/docs', '/home/alice/photos'],
      state: 'idle',
      refused: null,
      interrupted: false,
      lastSnapshot: {
        id: 'ab'.repeat(16),
        atMs: NOW - 60_000,
        files: 6810,
        bytes: Math.round(1.1 * 1024 * MiB),
      },
      pending: { bytes: 0, files: 0, checkedAtMs: NOW - 1000, complete: true },
      recentUpload: null,
    },
    repair: NO_REPAIR,
    dashboardUrl: null,
    ...over,
  };
}

describe('status report: what it says about the directories, the members and the size', () => {
  it('a deleted configured directory: not backed up, with the restore command and an address', () => {
    const base = input();
    const r = buildStatusReport({
      ...base,
      backup: {
        ...base.backup,
        pending: { ...base.backup.pending!, missing: ['/home/alice/photos'] },
      },
    });
    expect(validate(schema, JSON.parse(JSON.stringify(r)))).toEqual([]);
    expect(r.backup.upToDate).toBe(false);
    expect(r.backup.missingDirectories).toEqual(['/home/alice/photos']);
    expect(r.backup.words).toMatch(
      /^no: the configured directory \/home\/alice\/photos does not exist \(deleted\? to restore: pb-node restore --path \/home\/alice\/photos --overwrite never\)/,
    );
    expect(r.backup.words).not.toMatch(/not backed up yet/);
  });

  it('an old pending check shows its age; a fresh one does not', () => {
    const base = input();
    const old = buildStatusReport({
      ...base,
      backup: {
        ...base.backup,
        pending: { bytes: 5 * MiB, files: 2, checkedAtMs: NOW - 12_000, complete: true },
      },
    });
    expect(old.backup.words).toMatch(/2 changed files not backed up yet \(checked 12 s ago\)/);
    const fresh = buildStatusReport({
      ...base,
      backup: {
        ...base.backup,
        pending: { bytes: 5 * MiB, files: 2, checkedAtMs: NOW - 1000, complete: true },
      },
    });
    expect(fresh.backup.words).not.toMatch(/checked/);
  });

  it('every member row carries its addresses; the text lists them for restore --peer; the size explains itself', () => {
    const r = buildStatusReport(input());
    expect(validate(schema, JSON.parse(JSON.stringify(r)))).toEqual([]);
    expect(r.members.map((m) => m.addresses)).toEqual([
      ['/ip4/10.0.0.1/tcp/4001/p2p/alice'],
      ['/ip4/10.0.0.2/tcp/4001/p2p/bob'],
      [],
    ]);
    expect(r.backup.sizeWords).toBe(
      '10.0 MB in 10 stripes, 20.0 MB with redundancy (from 1.18 GB of files in the last snapshot, after dedup and compression)',
    );
    const text = renderStatusText(r);
    expect(text).toMatch(/\n {2}bob +\/ip4\/10\.0\.0\.2\/tcp\/4001\/p2p\/bob\n/);
    expect(text).toContain('* alice');
  });
});
