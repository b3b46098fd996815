/**
 * The status report's numbers against hand-computed expectations on small groups, the 1000x skew
 * case among them (the table in docs/design.md §3), with hand-made inputs; every report is also checked
 * against docs/status.schema.json; the human text is short and aligned.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CountedStripe } from '../../../engine/index.ts';
import { pledgeHelp } from '../../../engine/index.ts';
import {
  buildStatusReport,
  NO_REPAIR,
  repairProgressFrom,
  type StatusInput,
  type StatusReport,
} from '../../../runtime/daemon/status/status-report.ts';
import { renderStatusText } from '../../../runtime/daemon/status/status-text.ts';
import { validate } from './_schema.ts';

const schema = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../../docs/status.schema.json'), 'utf8'),
) as Record<string, unknown>;

const MB = 1e6;
const GB = 1e9;
const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const hex = (c: string) => c.repeat(64);

function input(over: Partial<StatusInput> & Pick<StatusInput, 'members'>): StatusInput {
  const self = over.self ?? { id: over.members[0]!.id, name: over.members[0]!.name };
  return {
    nowMs: NOW,
    startedAtMs: NOW - HOUR,
    self,
    groupId: hex('a'),
    isMember: true,
    agreement: { ratio: 2, tolerance: 1 },
    requests: [],
    stripes: [],
    lastSeenMs: new Map(over.members.filter((m) => m.id !== self.id).map((m) => [m.id, NOW - 1000])),
    connected: new Set(over.members.map((m) => m.id)),
    usage: new Map(),
    store: { pledgeBytes: over.members[0]?.pledgeBytes ?? 0, storedBytes: 0, reservationBytes: 0 },
    backup: {
      directories: ['/home/me'],
      state: 'idle',
      refused: null,
      interrupted: false,
      lastSnapshot: { id: 'ab'.repeat(16), atMs: NOW - 10 * 60_000, files: 12, bytes: 10 * MB },
      pending: { bytes: 0, files: 0, checkedAtMs: NOW, complete: true },
      recentUpload: null,
    },
    repair: NO_REPAIR,
    dashboardUrl: 'http://127.0.0.1:7460/',
    ...over,
  };
}

function valid(r: StatusReport): StatusReport {
  expect(validate(schema, JSON.parse(JSON.stringify(r)))).toEqual([]);
  return r;
}

const three = [
  { id: 'alice', name: 'alice', pledgeBytes: 100 * MB },
  { id: 'bob', name: 'bob', pledgeBytes: 100 * MB },
  { id: 'carol', name: 'carol', pledgeBytes: 100 * MB },
];
/** Ten 1+1 stripes of alice's, 1 MB shards, on bob and carol. */
const aliceStripes: CountedStripe[] = [
  {
    stripeId: 's',
    owner: 'alice',
    dataShards: 1,
    parityShards: 1,
    shardBytes: MB,
    holders: ['bob', 'carol'],
    count: 10,
  },
];

describe('status report: three equal members, ratio 2, tolerance 1', () => {
  it('allowance, backup size, pledge use and holders as computed by hand', () => {
    const r = valid(
      buildStatusReport(
        input({
          members: three,
          stripes: aliceStripes,
          usage: new Map([
            ['bob', { usedBytes: 30 * MB, atMs: NOW }],
            ['carol', { usedBytes: 25 * MB, atMs: NOW }],
          ]),
          store: {
            pledgeBytes: 100 * MB,
            storedBytes: 20 * MB,
            reservationBytes: 80 * MB,
            formerMembersBytes: 6 * MB,
          },
        }),
      ),
    );
    // 2 other members: k+m <= 2 without repair slack, (k+m)/k <= 2: 1+1.
    expect(r.group.code).toEqual({
      feasible: true,
      dataShards: 1,
      parityShards: 1,
      repairSlack: false,
      spareParity: false,
    });
    // Each owner stores 2x on the two others; each member holds x for each of two owners:
    // 2x <= 100 MB, so x = 50 MB = the pledge / ratio: the pledge is the limit.
    expect(r.capacity).toMatchObject({
      pledgeBytes: 100 * MB,
      agreementBytes: 50 * MB,
      allowanceBytes: 50 * MB,
      allowanceLeftBytes: 40 * MB,
      limitedBy: 'pledge',
      help: null,
    });
    // x* over [100,100,100] with s = 2: 150 MB; T* = k x* = 150 MB.
    expect(r.group.shareBytes).toBe(150 * MB);
    expect(r.group.boundBytes).toBe(150 * MB);
    expect(r.backup).toMatchObject({
      stripes: 10,
      backedUpBytes: 10 * MB,
      storedWithRedundancyBytes: 20 * MB,
      upToDate: true,
      pendingBytes: 0,
    });
    expect(r.pledge).toEqual({
      pledgeBytes: 100 * MB,
      usedBytes: 20 * MB,
      usedFraction: 0.2,
      reservationBytes: 80 * MB,
      formerMembersBytes: 6 * MB,
    });
    // The pledge line says how much of the use is kept for removed members.
    expect(renderStatusText(r)).toMatch(
      /Pledge +20\.0 MB of 100 MB used \(20%\) holding other members' shards\n +6\.00 MB of it for former members \(removed, kept so that they can still recover\)\n/,
    );
    expect(r.members.map((m) => [m.name, m.usedBytes, m.holdsOfMineBytes, m.availability])).toEqual([
      ['alice', 20 * MB, 0, 'self'],
      ['bob', 30 * MB, 10 * MB, 'online'],
      ['carol', 25 * MB, 10 * MB, 'online'],
    ]);
    expect(r.exposure).toMatchObject({ storedBytes: 10 * MB, exposedBytes: 0, protectedByMs: NOW });
    expect(r.backup.words).toMatch(/^yes, everything is backed up; last snapshot 10 min ago \(12 files/);
    expect(r.exposure.words).toBe('none: every stripe survives 1 more lost member');
    expect(r.capacity!.words).toMatch(
      /you can back up 40\.0 MB more .* your pledge of 100 MB at ratio 2 is the limit/,
    );
  });

  it('a member lost past the grace period exposes every stripe it held; repair gives a date', () => {
    const r = valid(
      buildStatusReport(
        input({
          members: three,
          stripes: aliceStripes,
          lastSeenMs: new Map([
            ['bob', NOW - 1000],
            ['carol', NOW - 25 * HOUR],
          ]),
          connected: new Set(['bob']),
          repair: { ...NO_REPAIR, source: 'daemon', running: 1, queuedTasks: 10, bytesPerSecond: MB },
        }),
      ),
    );
    // Each stripe keeps 1 of 2 shards: held 1 < k + f = 2: exposed, still readable (k = 1).
    // Repair traffic per stripe: (k - 1 + s - held) shards = 1 MB; ten stripes at 1 MB/s: 10 s.
    expect(r.exposure).toMatchObject({
      storedBytes: 10 * MB,
      exposedBytes: 10 * MB,
      unreadableNowBytes: 0,
      unrecoverableBytes: 0,
      repairQueueBytes: 10 * MB,
      protectedByMs: NOW + 10_000,
    });
    expect(r.members.find((m) => m.name === 'carol')).toMatchObject({
      availability: 'lost',
      connected: false,
      lastSeenMs: NOW - 25 * HOUR,
    });
    expect(r.exposure.words).toBe(
      '10.0 MB of 10.0 MB exposed (would not survive 1 more lost member); protected again in under a minute',
    );
  });

  it('both holders gone: unrecoverable, no date', () => {
    const r = valid(
      buildStatusReport(
        input({
          members: three,
          stripes: aliceStripes,
          lastSeenMs: new Map([
            ['bob', NOW - 30 * HOUR],
            ['carol', NOW - 25 * HOUR],
          ]),
        }),
      ),
    );
    expect(r.exposure).toMatchObject({
      exposedBytes: 10 * MB,
      unreadableNowBytes: 10 * MB,
      unrecoverableBytes: 10 * MB,
      protectedByMs: null,
    });
    expect(r.exposure.words).toMatch(/^10\.0 MB CANNOT be rebuilt/);
  });

  it('a member not heard from since the start counts as away (held, not online), lost after the grace period', () => {
    const soon = valid(
      buildStatusReport(input({ members: three, stripes: aliceStripes, lastSeenMs: new Map() })),
    );
    expect(soon.members.map((m) => m.availability)).toEqual(['self', 'away', 'away']);
    expect(soon.members[1]!.lastSeenMs).toBeNull();
    expect(soon.exposure.exposedBytes).toBe(0);
    expect(soon.exposure.unreadableNowBytes).toBe(10 * MB);
    const later = buildStatusReport(
      input({ members: three, stripes: aliceStripes, lastSeenMs: new Map(), startedAtMs: NOW - 25 * HOUR }),
    );
    expect(later.members.map((m) => m.availability)).toEqual(['self', 'lost', 'lost']);
    expect(later.exposure.unrecoverableBytes).toBe(10 * MB);
  });
});

describe('status report: the 1000x skew case', () => {
  // docs/design.md §3: pledges [10000, 10, 10, 10, 10] GB.
  const skew = [
    { id: 'big', name: 'big', pledgeBytes: 10_000 * GB },
    { id: 'm1', name: 'm1', pledgeBytes: 10 * GB },
    { id: 'm2', name: 'm2', pledgeBytes: 10 * GB },
    { id: 'm3', name: 'm3', pledgeBytes: 10 * GB },
    { id: 'm4', name: 'm4', pledgeBytes: 10 * GB },
  ];

  it('the big member: 13.3 GB, the others are the limit, and a member pledging 5 GB more raises it to 15 GB', () => {
    const r = valid(buildStatusReport(input({ members: skew })));
    // 4 others, f = 1, n = 2: 2+1 with repair slack.
    expect(r.group.code).toMatchObject({ feasible: true, dataShards: 2, parityShards: 1, repairSlack: true });
    // x* over all pledges, s = 3: peel 10000, then 40 / 2 = 20 GB; T* = 2 x* = 40 GB (the table).
    expect(r.group.shareBytes).toBe(20 * GB);
    expect(r.group.boundBytes).toBe(40 * GB);
    expect(r.members.map((m) => m.capped)).toEqual([true, false, false, false, false]);
    // One owner alone on [10,10,10,10], s = 3: x* = 40/3, k x* = 26.7 GB (the table's 26.7).
    expect(r.capacity!.ownerBoundBytes).toBe(Math.floor((2 * 40 * GB) / 3));
    // Everyone at once, every owner min(pledge/2, L): the small owners take 5 GB each (7.5 GB
    // of shards, at most 2.5 GB per holder: 2.5 on big, 5 over the other three smalls), leaving
    // 40 - 20 = 20 GB on the smalls for big's 1.5 L: L = 13.33 GB.
    const c = r.capacity!;
    expect(c.limitedBy).toBe('group');
    expect(c.agreementBytes).toBe(5000 * GB);
    expect(c.allowanceBytes / GB).toBeCloseTo(40 / 3, 6);
    // One small member at 15 GB. Over any placement the level would be 15 GB, but each owner
    // places by its own plan (engine/allowances.ts): big's plan puts a shard of 2/3 of its
    // stripes on each 10 GB member (m1, at 15 GB, is in all of them), m1's plan 2/3 of its 7.5 GB
    // (half a shard of data each, k = 2: 2.5 GB), and m3's and m4's plans 4/7 of their 5 GB each
    // (1.43 GB). A 10 GB member then holds L/3 + 2.5 + 2 x 1.43 <= 10: L = 13.93 GB (and no
    // more past 5 GB extra: m1's own growing share competes for the same members).
    expect(c.help).not.toBeNull();
    expect(c.help!.memberId).toBe('m1');
    expect(c.help!.extraPledgeBytes / GB).toBeCloseTo(5, 3);
    expect(c.help!.allowanceBytes / GB).toBeCloseTo(10 * 3 - 3 * (2.5 + (2 * 4 * 2.5) / 7), 3);
    expect(c.words).toMatch(
      /the other members' capacity is the limit; with today's members each can back up at most 13\.3 GB; if m1 pledged 5\.00 GB more, your allowance would rise to 13\.9 GB/,
    );
    expect(pledgeHelp(skew, { ratio: 2, tolerance: 1 }, 'big')).toEqual({
      memberId: c.help!.memberId,
      memberPledgeBytes: c.help!.memberPledgeBytes,
      extraPledgeBytes: c.help!.extraPledgeBytes,
      allowanceBytes: c.help!.allowanceBytes,
      currentAllowanceBytes: c.allowanceBytes,
    });
  });

  it('a small member: its own pledge is the limit (10 GB / 2 = 5 GB)', () => {
    const r = valid(buildStatusReport(input({ members: skew, self: { id: 'm2', name: 'm2' } })));
    expect(r.capacity).toMatchObject({
      agreementBytes: 5 * GB,
      allowanceBytes: 5 * GB,
      limitedBy: 'pledge',
      help: null,
    });
    // Its one-owner bound: others [10000, 10, 10, 10], s = 3: peel 10000, 30 / 2 = 15; k x* = 30 GB.
    expect(r.capacity!.ownerBoundBytes).toBe(30 * GB);
  });

  it('ratio 3 (1+2): raising one member lifts the big member to its best', () => {
    const r = valid(buildStatusReport(input({ members: skew, agreement: { ratio: 3, tolerance: 1 } })));
    expect(r.group.code).toMatchObject({ dataShards: 1, parityShards: 2 });
    // x* over [10000,10x4], s = 3: 20 GB; T* = 1 x* = 20 GB (the table's 1+2 column).
    expect(r.group.boundBytes).toBe(20 * GB);
    expect(r.capacity!.help!.allowanceBytes).toBeGreaterThan(r.capacity!.allowanceBytes);
  });
});

describe('status report: pending, estimate, refusal, requests', () => {
  it('pending bytes with a recent upload rate give an estimated completion', () => {
    const base = input({ members: three, stripes: aliceStripes });
    const r = valid(
      buildStatusReport({
        ...base,
        backup: {
          ...base.backup,
          state: 'running',
          pending: { bytes: 100 * MB, files: 3, checkedAtMs: NOW - 500, complete: true },
          recentUpload: { bytes: 50 * MB, spanMs: 10_000 },
        },
      }),
    );
    // 50 MB in 10 s: 5 MB/s; 100 MB pending: 20 s.
    expect(r.backup).toMatchObject({
      upToDate: false,
      pendingBytes: 100 * MB,
      pendingFiles: 3,
      uploadBytesPerSecond: 5 * MB,
      estimatedDoneMs: NOW + 20_000,
    });
    expect(r.backup.words).toBe(
      'no: 100 MB in 3 changed files not backed up yet; a backup is running; done in under a minute at the recent 5.00 MB/s; last snapshot 10 min ago (12 files, 10.0 MB)',
    );
  });

  it('no rate: no estimate, said in words; an incomplete check is a lower bound', () => {
    const base = input({ members: three });
    const r = buildStatusReport({
      ...base,
      backup: { ...base.backup, pending: { bytes: 5 * MB, files: 1, checkedAtMs: NOW, complete: false } },
    });
    expect(r.backup.estimatedDoneMs).toBeNull();
    expect(r.backup.words).toMatch(
      /at least: the check stopped early.*the upload rate is unknown yet, so is when/,
    );
  });

  it('the empty-directory rule: refused, with the restore command', () => {
    const base = input({ members: three });
    const r = valid(
      buildStatusReport({
        ...base,
        backup: {
          ...base.backup,
          state: 'refused',
          refused: {
            reason: 'every source is empty but the last snapshot has 12 files.',
            restoreHint: 'pb-node restore --peer <addr> --dir /d --target /',
            atMs: NOW - 1000,
          },
        },
      }),
    );
    expect(r.backup.upToDate).toBe(false);
    expect(r.backup.words).toMatch(/^REFUSED: every source is empty .* To restore: pb-node restore --peer/);
    expect(renderStatusText(r)).toContain('REFUSED');
  });

  it('pending join requests: whose decision it is', () => {
    const r = valid(
      buildStatusReport(
        input({
          members: three,
          requests: [
            { candidate: 'dave', request: hex('1'), name: 'dave', invitedBy: 'alice', atMs: NOW - 120_000 },
            { candidate: 'erin', request: hex('2'), name: 'erin', invitedBy: 'bob', atMs: NOW - 1000 },
          ],
        }),
      ),
    );
    expect(r.requests.map((q) => [q.name, q.mine, q.invitedByName])).toEqual([
      ['dave', true, 'alice'],
      ['erin', false, 'bob'],
    ]);
    const text = renderStatusText(r);
    expect(text).toContain('pb-node approve dave  or  pb-node reject dave');
    expect(text).toContain('bob invited them and decides');
  });

  it('no group yet, and no directories: said plainly', () => {
    const r = valid(
      buildStatusReport(
        input({
          members: [],
          self: { id: 'solo', name: 'solo' },
          groupId: null,
          isMember: false,
          agreement: null,
          backup: { ...input({ members: three }).backup, directories: [] },
        }),
      ),
    );
    expect(r.capacity).toBeNull();
    expect(r.backup.words).toBe('nothing to back up: no directories are configured');
    expect(renderStatusText(r)).toContain('none yet: `pb-node create` founds one');
  });
});

describe('repair progress from the repair worker', () => {
  it('maps its status object field by field; garbage gives zeros, no worker gives source none', () => {
    const status = {
      queued: 3,
      running: 1,
      repairsDone: 7,
      migrationsDone: 2,
      shardsMoved: 11,
      bytesMoved: 5 * MB,
      failedTasks: 1,
      rounds: 4,
      lastRoundAtMs: NOW - 60_000,
      lastRoundMs: 120,
      lastError: 'member x did not answer',
      lastPlan: {
        stripes: 40,
        needRepair: 6,
        needMigration: 1,
        waiting: 0,
        unrecoverable: 0,
        settling: 0,
        exposedBytes: 0,
        mine: 2,
      },
    };
    const rp = repairProgressFrom(status, 4 * MB);
    expect(rp).toEqual({
      source: 'daemon',
      running: 1,
      queuedTasks: 3,
      repairsDone: 7,
      migrationsDone: 2,
      failedTasks: 1,
      shardsMoved: 11,
      movedBytes: 5 * MB,
      bytesPerSecond: 4 * MB,
      stripesNeedingRepair: 6,
      lastRoundAtMs: NOW - 60_000,
      lastError: 'member x did not answer',
    });
    expect(repairProgressFrom(undefined, undefined)).toBe(NO_REPAIR);
    expect(
      repairProgressFrom({ queued: -1, running: Number.NaN, bytesMoved: '9', lastPlan: null }, 0),
    ).toMatchObject({
      source: 'daemon',
      queuedTasks: 0,
      running: 0,
      movedBytes: 0,
      bytesPerSecond: null,
      stripesNeedingRepair: null,
    });
    const r = valid(buildStatusReport(input({ members: three, stripes: aliceStripes, repair: rp })));
    expect(renderStatusText(r)).toMatch(
      /Repair {7}1 task running, 3 queued\n {15}7 repairs and 2 migrations done \(5\.00 MB moved\)\n {15}6 stripes in the group need repair\n {15}last round 60 s ago\n {15}1 tasks failed, last: member x did not answer/,
    );
  });
});

describe('status text', () => {
  it('short, aligned lines: every member row starts its columns at the same place', () => {
    const r = buildStatusReport(
      input({
        members: three,
        stripes: aliceStripes,
        usage: new Map([['bob', { usedBytes: 30 * MB, atMs: NOW }]]),
      }),
    );
    const text = renderStatusText(r, 'http://127.0.0.1:7460/?token=x');
    const lines = text.split('\n');
    expect(lines.length).toBeLessThan(25);
    const table = lines.slice(lines.findIndex((l) => l.startsWith('Members')));
    const rows = table.slice(0, 4);
    const pledgeEnd = rows.slice(1).map((l) => l.indexOf(' MB') + 3);
    expect(new Set(pledgeEnd).size).toBe(1);
    expect(rows[0]!.indexOf('pledge') + 'pledge'.length).toBe(pledgeEnd[0]);
    expect(rows[2]).toMatch(/^ {2}bob /);
    expect(rows[3]).toMatch(/ \? /); // carol never answered a usage question
    expect(text).toContain('Dashboard    http://127.0.0.1:7460/?token=x');
    expect(text).toMatch(/Backup size {2}10\.0 MB in 10 stripes, 20\.0 MB with redundancy/);
  });
});
