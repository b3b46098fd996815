/**
 * The parts around the status report: the pending check against a scan cache, the history ring
 * (bounded, persisted, a bad file set aside), the dashboard's settings and token file, and the
 * engine's larger-pledge answer as a property (what it claims, `allowances` confirms).
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allowances, pledgeHelp } from '../../../engine/index.ts';
import { type CachedFile, scanPending } from '../../../runtime/daemon/backup/pending-scan.ts';
import { DEFAULT_CONFIG, parseConfig, renderConfig } from '../../../runtime/daemon/config/config.ts';
import { MAX_HISTORY_SAMPLES, StatusHistory } from '../../../runtime/daemon/dashboard/history.ts';
import { DashboardServer, readOrCreateToken } from '../../../runtime/daemon/dashboard/server.ts';
import type { StatusReport } from '../../../runtime/daemon/status/status-report.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'pb-status-parts-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function cacheRow(path: string): CachedFile {
  const st = fs.lstatSync(path, { bigint: true });
  return {
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    ino: st.ino.toString(),
  };
}

describe('pending check', () => {
  it('counts exactly the files whose size, times or inode differ from the scan cache', async () => {
    fs.mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    fs.writeFileSync(join(dir, 'a', 'same.txt'), 'x'.repeat(100));
    fs.writeFileSync(join(dir, 'a', 'b', 'changed.txt'), 'y'.repeat(200));
    fs.writeFileSync(join(dir, 'new.txt'), 'z'.repeat(300));
    fs.symlinkSync('a/same.txt', join(dir, 'link'));
    const cache = new Map<string, CachedFile>([
      [join(dir, 'a', 'same.txt'), cacheRow(join(dir, 'a', 'same.txt'))],
      [join(dir, 'a', 'b', 'changed.txt'), { ...cacheRow(join(dir, 'a', 'b', 'changed.txt')), size: 1 }],
    ]);
    const r = await scanPending([dir], (p) => cache.get(p.toString()), { nowMs: () => 42 });
    expect(r).toEqual({ bytes: 500, files: 2, checkedAtMs: 42, complete: true });
  });

  it('stops at the entry bound and says the answer is a lower bound', async () => {
    for (let i = 0; i < 20; i++) fs.writeFileSync(join(dir, `f${i}`), 'data');
    const r = await scanPending([dir], () => undefined, { nowMs: () => 1, maxEntries: 5 });
    expect(r.complete).toBe(false);
    expect(r.files).toBe(5);
  });

  it('a missing directory is skipped, not fatal', async () => {
    const r = await scanPending([join(dir, 'gone')], () => undefined, { nowMs: () => 1 });
    expect(r).toMatchObject({ bytes: 0, files: 0, complete: true });
  });
});

function fakeReport(
  atMs: number,
  exposedBytes: number,
  sentBytes: number,
  members: { id: string; self: boolean; lastSeenMs: number | null }[] = [],
): StatusReport {
  return {
    generatedAtMs: atMs,
    members,
    exposure: { exposedBytes, unreadableNowBytes: 0 },
    backup: { backedUpBytes: 10, pendingBytes: null },
    repair: { movedBytes: sentBytes },
  } as unknown as StatusReport;
}

describe('status history', () => {
  it('is bounded, differences the repair counter, and survives a restart', () => {
    const file = join(dir, 'status-history.json');
    const h = new StatusHistory(file);
    for (let i = 0; i < MAX_HISTORY_SAMPLES + 10; i++) h.add(fakeReport(i * 60_000, i, i * 100));
    expect(h.samples()).toHaveLength(MAX_HISTORY_SAMPLES);
    expect(h.samples()[0]!.atMs).toBe(10 * 60_000);
    expect(h.samples().at(-1)).toMatchObject({ exposedBytes: MAX_HISTORY_SAMPLES + 9, repairBytes: 100 });
    h.add(fakeReport((MAX_HISTORY_SAMPLES + 10) * 60_000, 0, 50)); // a restarted daemon's counter
    expect(h.samples().at(-1)!.repairBytes).toBe(50);
    h.save();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = new StatusHistory(file);
    expect(again.samples()).toEqual(h.samples());
    // A clock step back does not disorder the ring.
    again.add(fakeReport(0, 1, 0));
    expect(again.samples()).toHaveLength(MAX_HISTORY_SAMPLES);
  });

  it("keeps each current member's last sighting across a restart", () => {
    const file = join(dir, 'status-history.json');
    const h = new StatusHistory(file);
    const members = [
      { id: 'me', self: true, lastSeenMs: 100 },
      { id: 'bob', self: false, lastSeenMs: 90 },
      { id: 'carol', self: false, lastSeenMs: null },
    ];
    h.add(fakeReport(100, 0, 0, members));
    h.add(fakeReport(200, 0, 0, [{ id: 'bob', self: false, lastSeenMs: 50 }, ...members.slice(2)]));
    expect([...h.sightings()]).toEqual([['bob', 90]]); // never goes back
    h.save();
    expect([...new StatusHistory(file).sightings()]).toEqual([['bob', 90]]);
    h.add(fakeReport(300, 0, 0, [members[0]!])); // bob left the group: forgotten
    expect(h.sightings().size).toBe(0);
  });

  it('sets a malformed file aside and starts empty', () => {
    const file = join(dir, 'status-history.json');
    const warnings: string[] = [];
    for (const bad of [
      '{"version":2,"samples":[]}',
      '{"version":1,"samples":[{"atMs":-1}]}',
      'not json',
      '{"version":1,"samples":[],"sightings":{"bob":-5}}',
      JSON.stringify({
        version: 1,
        samples: [
          {
            atMs: 5,
            exposedBytes: 0,
            unreadableNowBytes: 0,
            backedUpBytes: 0,
            pendingBytes: 0,
            repairBytes: 0,
            repairSentTotal: 0,
          },
          {
            atMs: 1,
            exposedBytes: 0,
            unreadableNowBytes: 0,
            backedUpBytes: 0,
            pendingBytes: 0,
            repairBytes: 0,
            repairSentTotal: 0,
          },
        ],
      }),
    ]) {
      fs.writeFileSync(file, bad);
      const h = new StatusHistory(file, (t) => warnings.push(t));
      expect(h.samples()).toEqual([]);
      expect(fs.existsSync(`${file}.bad`)).toBe(true);
      fs.rmSync(`${file}.bad`);
    }
    expect(warnings).toHaveLength(5);
  });
});

describe('dashboard settings', () => {
  it('the config key: default on loopback, null for off, bad values refused', () => {
    expect(DEFAULT_CONFIG.dashboard).toEqual({ host: '127.0.0.1', port: 7460 });
    const text = renderConfig(DEFAULT_CONFIG);
    expect(parseConfig(text, 'c').dashboard).toEqual({ host: '127.0.0.1', port: 7460 });
    expect(parseConfig(`${text}\ndashboard = null\n`, 'c').dashboard).toBeNull();
    expect(() => parseConfig(`${text}\ndashboard = {"host":"127.0.0.1","port":70000}\n`, 'c')).toThrow(
      /port/,
    );
    expect(() => parseConfig(`${text}\ndashboard = {"port":1}\n`, 'c')).toThrow(/dashboard/);
    expect(() =>
      parseConfig(`${text}\ndashboard = {"host":"0.0.0.0","port":1,"allowRemote":"yes"}\n`, 'c'),
    ).toThrow(/allowRemote/);
  });

  it('refuses a non-loopback address unless allowRemote is set', () => {
    const deps = {
      report: async () => ({}),
      history: () => [],
      decide: async () => ({}),
      uploads: async () => ({}),
      log: () => {},
    };
    const token = 'a'.repeat(64);
    expect(() => new DashboardServer({ host: '0.0.0.0', port: 0, allowRemote: false }, token, deps)).toThrow(
      /not a loopback address/,
    );
    expect(
      () => new DashboardServer({ host: '0.0.0.0', port: 0, allowRemote: true }, token, deps),
    ).not.toThrow();
    expect(
      () => new DashboardServer({ host: '127.0.0.1', port: 0, allowRemote: false }, 'short', deps),
    ).toThrow();
  });

  it('the token file: created 0600, kept, tightened, and a damaged one refused', () => {
    const file = join(dir, 'dashboard-token');
    const token = readOrCreateToken(file);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readOrCreateToken(file)).toBe(token);
    fs.chmodSync(file, 0o644);
    expect(readOrCreateToken(file)).toBe(token);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.writeFileSync(file, 'nope');
    expect(() => readOrCreateToken(file)).toThrow(/64 lowercase hex/);
  });
});

describe('pledgeHelp (engine)', () => {
  it('what it claims, allowances confirms; it is null when the pledge is the limit', () => {
    const GB = 1e9;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 3, maxLength: 6 }),
        fc.constantFrom(1.5, 2, 3),
        (pledges, ratio) => {
          const members = pledges.map((p, i) => ({ id: `m${i}`, pledgeBytes: p * GB }));
          const agreement = { ratio, tolerance: 1 };
          const today = allowances(members, agreement).members[0]!;
          const help = pledgeHelp(members, agreement, 'm0');
          if (today.limitedBy === 'pledge') expect(help).toBeNull();
          if (help === null) return;
          expect(help.currentAllowanceBytes).toBe(today.allowanceBytes);
          expect(help.allowanceBytes).toBeGreaterThan(today.allowanceBytes);
          const raised = members.map((m) =>
            m.id === help.memberId ? { ...m, pledgeBytes: m.pledgeBytes + help.extraPledgeBytes } : m,
          );
          expect(allowances(raised, agreement).members[0]!.allowanceBytes).toBe(help.allowanceBytes);
          // The raised member is one with the smallest pledge among the others.
          const smallest = Math.min(...members.slice(1).map((m) => m.pledgeBytes));
          expect(help.memberPledgeBytes).toBe(smallest);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('names no help when the best gain is within one part in a million (seed 159767924)', () => {
    const GB = 1e9;
    const members = [11, 10, 10, 11].map((p, i) => ({ id: `m${i}`, pledgeBytes: p * GB }));
    const agreement = { ratio: 1.5, tolerance: 1 };
    const help = pledgeHelp(members, agreement, 'm0');
    const today = allowances(members, agreement).members[0]!;
    if (help !== null) expect(help.allowanceBytes).toBeGreaterThan(today.allowanceBytes);
    else expect(today.limitedBy).not.toBe('pledge');
  });
});
