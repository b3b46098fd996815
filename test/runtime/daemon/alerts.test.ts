/**
 * Alerts: the pure rules under a fake clock (one open and one clear per episode, hold times,
 * hysteresis, unknown conditions, a property over random condition sequences), the monitor with a
 * real in-process SMTP server (exactly one mail per episode and one when it clears, with words an
 * operator can act on; no re-send after a restart; retries with backoff against a closed port),
 * and `pb-node alerts test` against the in-process server and a closed port.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GroupState } from '../../../engine/index.ts';
import {
  DEFAULT_ALERTS,
  DEFAULT_MAIL,
  parseAlertConfig,
  parseMailConfig,
} from '../../../runtime/daemon/alerts/config.ts';
import { renderAlertMail } from '../../../runtime/daemon/alerts/messages.ts';
import {
  AlertMonitor,
  FIRST_RETRY_MS,
  MAX_RETRY_MS,
  retryDelayMs,
} from '../../../runtime/daemon/alerts/monitor.ts';
import {
  type AlertSnapshot,
  type AlertState,
  EMPTY_ALERT_STATE,
  evaluateAlerts,
  PLEDGE_HYSTERESIS,
  type Transition,
} from '../../../runtime/daemon/alerts/rules.ts';
import type { BackupStatus } from '../../../runtime/daemon/backup/backup-service.ts';
import {
  DEFAULT_CONFIG,
  initDataDir,
  loadConfig,
  type NodeConfig,
  renderConfig,
} from '../../../runtime/daemon/config/config.ts';
import { SmtpSink } from '../../../runtime/demo/smtp-sink.ts';
import { cli, waitFor } from './_cluster.ts';

const H = 3_600_000;
const D = 24 * H;
const config = { ...DEFAULT_ALERTS, exposureGraceMs: H, noBackupMs: 3 * D, pledgeNearlyFullFraction: 0.9 };
const T0 = Date.UTC(2026, 10, 1);

function quiet(nowMs: number): AlertSnapshot {
  return {
    nowMs,
    exposure: { exposedBytes: 0, storedBytes: 1000, tolerance: 1 },
    backup: { watchSinceMs: T0, lastSuccessMs: nowMs, directories: ['/home/ann'] },
    pledge: { pledgeBytes: 1000, storedBytes: 100 },
    joinRequests: [],
    emptySources: null,
  };
}

/** Runs snapshots through the rules; returns every transition. */
function run(
  snaps: AlertSnapshot[],
  start: AlertState = EMPTY_ALERT_STATE,
): { state: AlertState; all: Transition[] } {
  let state = start;
  const all: Transition[] = [];
  for (const s of snaps) {
    const r = evaluateAlerts(state, s, config);
    state = r.state;
    all.push(...r.transitions);
  }
  return { state, all };
}

const brief = (ts: Transition[]): string[] => ts.map((t) => `${t.type} ${t.key} @${(t.atMs - T0) / 60_000}m`);

describe('alert rules (pure, fake clock)', () => {
  it('exposure opens only after the grace period, once, and clears once', () => {
    const exposed = (m: number): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      exposure: { exposedBytes: 500, storedBytes: 1000, tolerance: 1 },
    });
    const { all } = run([
      quiet(T0),
      exposed(1),
      exposed(30),
      exposed(60), // exactly the grace after the first sighting at 1 min: not yet (61 needed)
      exposed(61),
      exposed(90),
      exposed(600),
      quiet(T0 + 601 * 60_000),
      quiet(T0 + 700 * 60_000),
    ]);
    expect(brief(all)).toEqual(['open exposure @61m', 'clear exposure @601m']);
    expect(all[0]!.sinceMs).toBe(T0 + 60_000);
    expect(all[1]!.sinceMs).toBe(T0 + 61 * 60_000);
  });

  it('exposure that heals within the grace period mails nothing', () => {
    const exposed = (m: number): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      exposure: { exposedBytes: 1, storedBytes: 1000, tolerance: 1 },
    });
    expect(run([exposed(0), exposed(59), quiet(T0 + 59.5 * 60_000), exposed(60), exposed(100)]).all).toEqual(
      [],
    );
  });

  it('unknown exposure (null) neither opens nor clears', () => {
    const exposed = (m: number): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      exposure: { exposedBytes: 9, storedBytes: 10, tolerance: 1 },
    });
    const unknown = (m: number): AlertSnapshot => ({ ...quiet(T0 + m * 60_000), exposure: null });
    const { all } = run([
      exposed(0),
      exposed(61),
      unknown(62),
      unknown(500),
      exposed(501),
      quiet(T0 + 502 * 60_000),
    ]);
    expect(brief(all)).toEqual(['open exposure @61m', 'clear exposure @502m']);
  });

  it('no backup for 3 days opens; a successful backup clears; the watch start counts when none ever ran', () => {
    const at = (d: number, last: number | null): AlertSnapshot => ({
      ...quiet(T0 + d * D),
      backup: {
        watchSinceMs: T0,
        lastSuccessMs: last === null ? null : T0 + last * D,
        directories: ['/home/ann'],
      },
    });
    const { all } = run([
      at(0, null),
      at(2.9, null),
      at(3, null),
      at(3.5, null),
      at(4, 4),
      at(6.9, 4),
      at(7, 4),
      at(7.1, 7.05),
    ]);
    expect(brief(all)).toEqual([
      `open no-backup @${3 * 1440}m`,
      `clear no-backup @${4 * 1440}m`,
      `open no-backup @${7 * 1440}m`,
      `clear no-backup @${7.1 * 1440}m`,
    ]);
  });

  it('pledge nearly full opens at the fraction and clears only below it minus the hysteresis', () => {
    const used = (m: number, stored: number): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      pledge: { pledgeBytes: 1000, storedBytes: stored },
    });
    const justBelow = Math.floor((0.9 - PLEDGE_HYSTERESIS) * 1000);
    const { all } = run([
      used(0, 899),
      used(1, 900),
      used(2, 895),
      used(3, 885),
      used(4, 905),
      used(5, justBelow - 1),
    ]);
    expect(brief(all)).toEqual(['open pledge-nearly-full @1m', 'clear pledge-nearly-full @5m']);
  });

  it('each join request is its own episode; it clears when decided', () => {
    const req = (m: number, names: string[]): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      joinRequests: names.map((n) => ({ candidate: `id-${n}`, name: n, sinceMs: T0 })),
    });
    const { all } = run([
      req(0, ['bob']),
      req(1, ['bob']),
      req(2, ['bob', 'cy']),
      req(3, ['cy']),
      req(4, []),
    ]);
    expect(brief(all)).toEqual([
      'open join-request:id-bob @0m',
      'open join-request:id-cy @2m',
      'clear join-request:id-bob @3m',
      'clear join-request:id-cy @4m',
    ]);
  });

  it('a join request alert can wait joinRequestAfterMs', () => {
    const req = (m: number): AlertSnapshot => ({
      ...quiet(T0 + m * 60_000),
      joinRequests: [{ candidate: 'x', name: 'x', sinceMs: T0 + m * 60_000 }],
    });
    const r1 = evaluateAlerts(EMPTY_ALERT_STATE, req(0), { ...config, joinRequestAfterMs: 10 * 60_000 });
    const r2 = evaluateAlerts(r1.state, req(9), { ...config, joinRequestAfterMs: 10 * 60_000 });
    const r3 = evaluateAlerts(r2.state, req(10), { ...config, joinRequestAfterMs: 10 * 60_000 });
    expect([r1.transitions.length, r2.transitions.length, r3.transitions.length]).toEqual([0, 0, 1]);
  });

  it('rejects a malformed snapshot and a state of another version', () => {
    expect(() =>
      evaluateAlerts(
        EMPTY_ALERT_STATE,
        { ...quiet(T0), pledge: { pledgeBytes: -1, storedBytes: 0 } },
        config,
      ),
    ).toThrow(/pledgeBytes/);
    expect(() => evaluateAlerts({ version: 2 } as unknown as AlertState, quiet(T0), config)).toThrow(
      /version/,
    );
  });

  it('property: per episode key, transitions alternate open, clear, open, ... and never repeat', () => {
    const step = fc.record({
      dtMs: fc.integer({ min: 0, max: 2 * H }),
      exposed: fc.option(fc.boolean(), { nil: null }),
      stored: fc.integer({ min: 0, max: 1000 }),
      lastBackupAgoMs: fc.option(fc.integer({ min: 0, max: 5 * D }), { nil: null }),
      requests: fc.subarray(['a', 'b', 'c']),
      empty: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let now = T0;
        const snaps = steps.map((s): AlertSnapshot => {
          now += s.dtMs;
          return {
            nowMs: now,
            exposure:
              s.exposed === null ? null : { exposedBytes: s.exposed ? 10 : 0, storedBytes: 10, tolerance: 1 },
            backup: {
              watchSinceMs: T0,
              lastSuccessMs: s.lastBackupAgoMs === null ? null : Math.max(T0, now - s.lastBackupAgoMs),
              directories: [],
            },
            pledge: { pledgeBytes: 1000, storedBytes: s.stored },
            joinRequests: s.requests.map((n) => ({ candidate: n, name: n, sinceMs: T0 })),
            emptySources: s.empty ? { reason: 'empty', sinceMs: now, restoreHint: 'pb-node restore' } : null,
          };
        });
        const { state, all } = run(snaps);
        const last = new Map<string, string>();
        for (const t of all) {
          const prev = last.get(t.key) ?? 'clear';
          expect(t.type).not.toBe(prev);
          last.set(t.key, t.type);
        }
        // Every key still open in the transitions is an open episode in the state, and back.
        const openKeys = [...last]
          .filter(([, v]) => v === 'open')
          .map(([k]) => k)
          .sort();
        expect(
          state.episodes
            .filter((e) => e.openedAtMs !== null)
            .map((e) => e.key)
            .sort(),
        ).toEqual(openKeys);
      }),
      { numRuns: 300 },
    );
  });
});

describe('alert config', () => {
  it('fills defaults, accepts the first config shape, and names the key at fault', () => {
    expect(parseMailConfig({})).toEqual(DEFAULT_MAIL);
    expect(parseMailConfig({ to: null, smtpHost: null, smtpPort: 25, from: null }).port).toBe(25);
    expect(parseMailConfig({ host: 'h', to: 'a@b.c' }).to).toEqual(['a@b.c']);
    expect(() => parseMailConfig({ host: 'h' })).toThrow(/mail.to/);
    expect(() => parseMailConfig({ hots: 'h' })).toThrow(/unknown key "hots"/);
    expect(() => parseMailConfig({ port: 0 })).toThrow(/mail.port/);
    expect(parseAlertConfig({ noBackupMs: 5000 }).noBackupMs).toBe(5000);
    expect(() => parseAlertConfig({ pledgeNearlyFullFraction: 1.5 })).toThrow(/pledgeNearlyFullFraction/);
    expect(() => parseAlertConfig({ checkIntervalMs: 1 })).toThrow(/checkIntervalMs/);
  });

  it('retry delays grow and stay bounded', () => {
    expect(retryDelayMs(1)).toBe(FIRST_RETRY_MS);
    expect(retryDelayMs(2)).toBe(2 * FIRST_RETRY_MS);
    expect(retryDelayMs(1000)).toBe(MAX_RETRY_MS);
  });
});

/** A monitor over fake daemon facts, with a settable clock. */
function fakeMonitor(dir: string, mail: NodeConfig['mail'], facts: Facts, log: string[]): AlertMonitor {
  const nodeConfig: NodeConfig = {
    ...DEFAULT_CONFIG,
    name: 'ann',
    directories: ['/home/ann'],
    mail,
    alerts: { ...config, checkIntervalMs: 100 },
  };
  return new AlertMonitor({
    dataDir: dir,
    config: nodeConfig,
    self: 'ME',
    log: (l) => log.push(l),
    group: () => facts.group,
    backupStatus: () => facts.backup,
    storeReport: async () => facts.store,
    now: () => facts.now,
  });
}

interface Facts {
  now: number;
  group: GroupState;
  backup: BackupStatus;
  store: { pledgeBytes: number; storedBytes: number };
}

function fakeGroup(pending: { candidate: string; name: string }[]): GroupState {
  return {
    agreement: { ratio: 1.5, tolerance: 1 },
    members: [
      { id: 'ME', name: 'ann', pledgeBytes: 1000, addresses: [], sinceMs: T0 },
      { id: 'BOB', name: 'bob', pledgeBytes: 1000, addresses: ['/ip4/127.0.0.1/tcp/4001'], sinceMs: T0 },
    ],
    pending: pending.map((p) => ({
      ...p,
      request: `r-${p.candidate}`,
      addresses: [],
      invitedBy: 'ME',
      atMs: T0,
      clock: 1,
    })),
  } as unknown as GroupState;
}

describe('alert monitor with an in-process SMTP server', () => {
  let sink: SmtpSink;
  let root: string;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    root = fs.mkdtempSync(join(tmpdir(), 'pb-alerts-'));
  });
  afterAll(async () => {
    await sink.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('one mail per episode and one when it clears, with words an operator understands; none again after a restart', async () => {
    const dir = join(root, 'episodes');
    fs.mkdirSync(dir);
    const mail = {
      ...DEFAULT_MAIL,
      host: '127.0.0.1',
      port: sink.port,
      from: 'pb@test.local',
      to: ['ops@test.local'],
    };
    const log: string[] = [];
    const facts: Facts = {
      now: T0,
      group: fakeGroup([]),
      backup: { state: 'idle', last: { atMs: T0, snapshotId: 'ab'.repeat(32) } },
      store: { pledgeBytes: 1000, storedBytes: 10 },
    };
    let monitor = fakeMonitor(dir, mail, facts, log);
    const before = sink.mails.length;
    const step = async (dtMs: number): Promise<void> => {
      facts.now += dtMs;
      await monitor.check();
      await monitor.flush();
    };
    await step(0);
    // Day 1: a join request; the pledge fills; the sources turn up empty.
    facts.group = fakeGroup([{ candidate: 'CAROL', name: 'carol' }]);
    facts.store = { pledgeBytes: 1000, storedBytes: 950 };
    facts.backup = {
      state: 'refused',
      reason: 'every source is empty while the last snapshot held 12 files.',
      atMs: facts.now,
      restoreHint: `pb-node restore --peer <a member's address> --dir ${dir} --target /`,
    };
    await step(D);
    await step(60_000);
    // A restart: the same data directory, a new monitor; nothing is sent again.
    monitor = fakeMonitor(dir, mail, facts, log);
    await step(60_000);
    // They clear: approved, pledge raised, a backup succeeded.
    facts.group = fakeGroup([]);
    facts.store = { pledgeBytes: 2000, storedBytes: 950 };
    facts.backup = { state: 'idle', last: { atMs: facts.now, snapshotId: 'cd'.repeat(32) } };
    await step(60_000);
    await step(60_000);
    const got = sink.mails.slice(before);
    expect(got.map((m) => m.subject).sort()).toEqual(
      [
        '[pb] ann: backup refused: the backed-up directories are empty',
        '[pb] ann: carol asks to join the group',
        '[pb] ann: your pledge is nearly full',
        '[pb] ann: resolved: backup refused: the backed-up directories are empty',
        '[pb] ann: resolved: carol asks to join the group',
        '[pb] ann: resolved: your pledge is nearly full',
      ].sort(),
    );
    for (const m of got) expect(m.to).toEqual(['ops@test.local']);
    const joinMail = got.find((m) => m.subject.endsWith('carol asks to join the group'))!;
    expect(joinMail.text).toContain('What to do');
    expect(joinMail.text).toContain(`pb-node approve carol --dir ${dir}`);
    const empty = got.find((m) => m.subject.endsWith('directories are empty'))!;
    expect(empty.text).toContain('pb-node restore --peer');
    expect(empty.text).toContain("a member's address: /ip4/127.0.0.1/tcp/4001/p2p/BOB");
    expect(empty.text).toContain('--allow-empty');
    const pledge = got.find((m) => m.subject.endsWith('your pledge is nearly full'))!;
    expect(pledge.text).toContain('(95%)');
    expect(pledge.text).toContain('pb-node pledge <size>');
    expect(got.find((m) => m.subject.includes('resolved: carol'))!.text).toContain('No action is needed');
    expect(log.filter((l) => l.startsWith('ALERT opened')).length).toBe(3);
    expect(log.filter((l) => l.startsWith('ALERT cleared')).length).toBe(3);
  });

  it('no backup for the set time: one mail, and one when a backup succeeds', async () => {
    const dir = join(root, 'no-backup');
    fs.mkdirSync(dir);
    const mail = {
      ...DEFAULT_MAIL,
      host: '127.0.0.1',
      port: sink.port,
      from: 'pb@test.local',
      to: ['ops@test.local'],
    };
    const facts: Facts = {
      now: T0,
      group: fakeGroup([]),
      backup: { state: 'idle', last: null },
      store: { pledgeBytes: 0, storedBytes: 0 },
    };
    const monitor = fakeMonitor(dir, mail, facts, []);
    const before = sink.mails.length;
    for (const dt of [0, D, D, 0.99 * D, 0.02 * D, H, H]) {
      facts.now += dt;
      await monitor.check();
    }
    facts.backup = { state: 'idle', last: { atMs: facts.now, snapshotId: 'ef'.repeat(32) } };
    facts.now += H;
    await monitor.check();
    await waitFor('two mails', async () => sink.mails.length - before >= 2, 10_000);
    const got = sink.mails.slice(before);
    expect(got.map((m) => m.subject)).toEqual([
      '[pb] ann: no successful backup',
      '[pb] ann: resolved: no successful backup',
    ]);
    expect(got[0]!.text).toContain('since this node started watching');
    expect(got[0]!.text).toContain('/home/ann');
  });

  it('a closed SMTP port: the mail is retried with backoff, the checks go on, and it arrives once the server is back', async () => {
    const dir = join(root, 'closed');
    fs.mkdirSync(dir);
    const port = await freePort();
    const mail = { ...DEFAULT_MAIL, host: '127.0.0.1', port, from: 'pb@test.local', to: ['ops@test.local'] };
    const log: string[] = [];
    const facts: Facts = {
      now: T0,
      group: fakeGroup([{ candidate: 'DAN', name: 'dan' }]),
      backup: { state: 'idle', last: { atMs: T0, snapshotId: 'ab'.repeat(32) } },
      store: { pledgeBytes: 1000, storedBytes: 10 },
    };
    const monitor = fakeMonitor(dir, mail, facts, log);
    await monitor.check();
    await monitor.flush();
    expect(
      log.some((l) =>
        /could not send "\[pb\] ann: dan asks to join the group" \(attempt 1; next in 5 s\).*ECONNREFUSED/.test(
          l,
        ),
      ),
    ).toBe(true);
    // Before the backoff has passed nothing is attempted again.
    await monitor.flush();
    expect(log.filter((l) => l.includes('could not send')).length).toBe(1);
    // The checks go on meanwhile (the request was decided: one more transition queued).
    facts.group = fakeGroup([]);
    expect((await monitor.check()).map((t) => t.type)).toEqual(['clear']);
    monitor.stop();
    // The server comes up on that port; a new monitor (a restart) sends the persisted outbox.
    const late = await SmtpSink.start(() => {}, port);
    try {
      facts.now += FIRST_RETRY_MS;
      const again = fakeMonitor(dir, mail, facts, log);
      await again.flush();
      expect(late.mails.map((m) => m.subject)).toEqual([
        '[pb] ann: dan asks to join the group',
        '[pb] ann: resolved: dan asks to join the group',
      ]);
      expect(again.report().outbox).toBe(0);
    } finally {
      await late.close();
    }
  });

  it('an unreadable alerts.json is set aside, not fatal', () => {
    const dir = join(root, 'bad-file');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'alerts.json'), '{"version":7}');
    const log: string[] = [];
    const facts: Facts = {
      now: T0,
      group: fakeGroup([]),
      backup: { state: 'idle', last: null },
      store: { pledgeBytes: 0, storedBytes: 0 },
    };
    const m = fakeMonitor(dir, DEFAULT_MAIL, facts, log);
    expect(m.report().episodes).toEqual([]);
    expect(fs.existsSync(join(dir, 'alerts.json.bad'))).toBe(true);
    expect(log.join('\n')).toMatch(/unreadable/);
  });

  it('renders every kind with what happened, what it means and what to do', () => {
    const c = { memberName: 'ann', dataDir: '/var/lib/pb' };
    const details: Transition['detail'][] = [
      { kind: 'exposure', exposedBytes: 5 << 20, storedBytes: 50 << 20, tolerance: 1 },
      { kind: 'no-backup', lastSuccessMs: T0, watchSinceMs: T0, directories: ['/home/ann'] },
      { kind: 'pledge-nearly-full', pledgeBytes: 100, storedBytes: 95, fraction: 0.95 },
      { kind: 'join-request', candidate: 'X', name: 'carol', sinceMs: T0 },
      { kind: 'empty-sources', reason: 'every source is empty.', restoreHint: 'pb-node restore --peer P' },
    ];
    for (const detail of details) {
      const open = renderAlertMail(
        { type: 'open', key: detail.kind, kind: detail.kind, atMs: T0 + 4 * D, sinceMs: T0, detail },
        c,
      );
      expect(open.subject).toMatch(/^\[pb\] ann: /);
      for (const part of ['What happened', 'What it means', 'What to do', '--dir /var/lib/pb'])
        expect(open.text).toContain(part);
      const clear = renderAlertMail(
        { type: 'clear', key: detail.kind, kind: detail.kind, atMs: T0 + 5 * D, sinceMs: T0, detail },
        c,
      );
      expect(clear.subject).toMatch(/^\[pb\] ann: resolved: /);
      expect(clear.text).toContain('Resolved');
    }
  });
});

describe('pb-node alerts test', () => {
  let sink: SmtpSink;
  let root: string;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    root = fs.mkdtempSync(join(tmpdir(), 'pb-alerts-cli-'));
  });
  afterAll(async () => {
    await sink.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => undefined);

  const setMail = (dir: string, mail: Partial<NodeConfig['mail']>): void => {
    const c = loadConfig(dir);
    fs.writeFileSync(join(dir, 'config'), renderConfig({ ...c, mail: { ...c.mail, ...mail } }));
  };

  it('sends a test mail from the config when no daemon runs, and says where it went', async () => {
    const dir = join(root, 'a');
    initDataDir(dir, 'ann');
    setMail(dir, { host: '127.0.0.1', port: sink.port, from: 'pb@test.local', to: ['ops@test.local'] });
    const before = sink.mails.length;
    const r = await cli(['alerts', 'test', '--dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /Test mail sent by this command \(no daemon runs\) via 127\.0\.0\.1:\d+ to ops@test\.local/,
    );
    expect(sink.mails.slice(before).map((m) => m.subject)).toEqual(['[pb] ann: test mail']);
  });

  it('reports the SMTP error clearly (closed port, mail not configured)', async () => {
    const dir = join(root, 'b');
    initDataDir(dir, 'bob');
    const none = await cli(['alerts', 'test', '--dir', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/mail is not configured: set mail.host/);
    const port = await freePort();
    setMail(dir, { host: '127.0.0.1', port, to: ['ops@test.local'] });
    const closed = await cli(['alerts', 'test', '--dir', dir, '--json']);
    expect(closed.code).toBe(1);
    const e = JSON.parse(closed.stdout) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('ECONNREFUSED');
    expect(e.error.message).toMatch(/nothing listens there \(check mail.host and mail.port\)/);
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
