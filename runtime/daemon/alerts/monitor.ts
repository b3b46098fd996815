/**
 * The daemon's alert loop: every `alerts.checkIntervalMs` it gathers a snapshot (exposure and the
 * last snapshot from the status report, the very numbers `pb-node status` shows, so an alert
 * never fires on a state status shows as healthy; the last successful backup, the pledge, join requests this operator decides, the
 * empty-directory refusal), runs the pure rules (rules.ts), logs each transition as an `ALERT`
 * line, and queues its mail in an outbox. The outbox sends in the background with bounded backoff;
 * a failing SMTP server only produces log lines. Rule state and outbox live in
 * `<data dir>/alerts.json` (versioned, written atomically), so a restart neither re-sends an open
 * episode nor loses a queued mail. Nothing here awaits the network on the backup's path.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { GroupState } from '../../../engine/index.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import type { BackupStatus } from '../backup/backup-service.ts';
import type { NodeConfig } from '../config/config.ts';
import { announcedMultiaddrs, holdersOf } from '../group/network-directory.ts';
import type { StatusReport } from '../status/status-types.ts';
import { MailError, type SentMail, sendMail } from './mailer.ts';
import { type AlertMail, renderAlertMail, renderTestMail } from './messages.ts';
import {
  type AlertSnapshot,
  type AlertState,
  decodeAlertState,
  EMPTY_ALERT_STATE,
  evaluateAlerts,
  type Transition,
} from './rules.ts';

export const ALERTS_FILE = 'alerts.json';
const FILE_VERSION = 1;
const MAX_FILE_BYTES = 1024 * 1024;
/** Bounds on the outbox: queued mails, attempts per mail, and the wait between attempts. */
export const MAX_OUTBOX = 50;
export const MAX_SEND_ATTEMPTS = 20;
export const FIRST_RETRY_MS = 5_000;
export const MAX_RETRY_MS = 15 * 60_000;
const MAX_MAIL_TEXT_CHARS = 16 * 1024;

export interface QueuedMail extends AlertMail {
  id: string;
  queuedAtMs: number;
  attempts: number;
  nextAttemptMs: number;
  lastError: string | null;
}

interface AlertsFile {
  version: 1;
  rules: AlertState;
  /** When this node began to be expected to back up (the no-backup rule's start without a backup). */
  watchSinceMs: number | null;
  outbox: QueuedMail[];
}

export interface MonitorDeps {
  dataDir: string;
  config: NodeConfig;
  self: string;
  log: (line: string) => void;
  group: () => GroupState | null;
  backupStatus: () => BackupStatus;
  storeReport: () => Promise<{ pledgeBytes: number; storedBytes: number }>;
  /**
   * The status report (status-source.ts): exposure and the last snapshot come from it, one
   * source for status and alerts. Null or absent: exposure is unknown (neither opens nor clears).
   */
  report?: () => Promise<StatusReport | null>;
  now?: () => number;
  /** Tests: instead of SMTP. */
  send?: (mail: AlertMail) => Promise<SentMail>;
}

export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(20, Math.max(0, attempts - 1)));
}

function decodeFile(text: string): AlertsFile {
  if (text.length > MAX_FILE_BYTES) throw new Error('larger than 1 MiB');
  const v = JSON.parse(text) as Partial<AlertsFile>;
  if (v === null || typeof v !== 'object' || v.version !== FILE_VERSION) throw new Error('not version 1');
  const rules = decodeAlertState(v.rules);
  const watchSinceMs = typeof v.watchSinceMs === 'number' ? v.watchSinceMs : null;
  if (!Array.isArray(v.outbox) || v.outbox.length > MAX_OUTBOX) throw new Error('bad outbox');
  const outbox = v.outbox.filter(
    (m): m is QueuedMail =>
      m !== null &&
      typeof m === 'object' &&
      typeof m.id === 'string' &&
      typeof m.subject === 'string' &&
      typeof m.text === 'string' &&
      m.text.length <= MAX_MAIL_TEXT_CHARS &&
      Number.isInteger(m.attempts) &&
      typeof m.nextAttemptMs === 'number' &&
      typeof m.queuedAtMs === 'number',
  );
  return { version: 1, rules, watchSinceMs, outbox };
}

export class AlertMonitor {
  private file: AlertsFile;
  private timer: NodeJS.Timeout | null = null;
  /** At most one pending retry of the outbox. */
  private retryTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private flushing: Promise<void> | null = null;
  private stopped = false;
  private lastGatherProblem = '';
  private seq = 0;
  private readonly now: () => number;

  constructor(private readonly deps: MonitorDeps) {
    this.now = deps.now ?? Date.now;
    this.file = this.load();
  }

  private get path(): string {
    return join(this.deps.dataDir, ALERTS_FILE);
  }

  private load(): AlertsFile {
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch {
      return { version: 1, rules: EMPTY_ALERT_STATE, watchSinceMs: null, outbox: [] };
    }
    try {
      return decodeFile(text);
    } catch (error) {
      // Never crash on a bad alert file; keep it for a look and start fresh.
      this.deps.log(
        `alerts: ${this.path} unreadable (${(error as Error).message}); kept as .bad, starting fresh`,
      );
      try {
        fs.renameSync(this.path, `${this.path}.bad`);
      } catch {}
      return { version: 1, rules: EMPTY_ALERT_STATE, watchSinceMs: null, outbox: [] };
    }
  }

  private save(): void {
    writeFileAtomic(this.path, Buffer.from(JSON.stringify(this.file)));
  }

  get mailConfigured(): boolean {
    return this.deps.config.mail.host !== null;
  }

  start(): void {
    const every = this.deps.config.alerts.checkIntervalMs;
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
    setTimeout(() => void this.check(), Math.min(every, 1000)).unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.timer = null;
    this.retryTimer = null;
  }

  /** What `pb-node status` and the dashboard may show. */
  report(): { episodes: AlertState['episodes']; outbox: number; mailConfigured: boolean } {
    return {
      episodes: this.file.rules.episodes,
      outbox: this.file.outbox.length,
      mailConfigured: this.mailConfigured,
    };
  }

  async snapshot(nowMs: number): Promise<AlertSnapshot> {
    const { deps } = this;
    const state = deps.group();
    // biome-ignore lint/complexity/useOptionalChain: the explicit test narrows `state` below
    const member = state !== null && state.members.some((m) => m.id === deps.self);
    const status = deps.backupStatus();
    const report = deps.report === undefined ? null : await deps.report();
    let exposureNow: AlertSnapshot['exposure'] = null;
    if (member && state.agreement !== null && report?.group.member === true)
      exposureNow = {
        exposedBytes: report.exposure.exposedBytes,
        storedBytes: report.exposure.storedBytes,
        tolerance: state.agreement.tolerance,
      };
    const facts = { lastSnapshotMs: report?.backup.lastSnapshot?.atMs ?? null };
    const expected =
      member &&
      deps.config.directories.length > 0 &&
      state.agreement !== null &&
      holdersOf(state, deps.self).length > 0;
    if (!expected) this.file.watchSinceMs = null;
    else if (this.file.watchSinceMs === null) this.file.watchSinceMs = nowMs;
    const inMemory = status.state !== 'refused' ? (status.last?.atMs ?? null) : null;
    const lastSuccessMs =
      facts.lastSnapshotMs === null && inMemory === null
        ? null
        : Math.max(facts.lastSnapshotMs ?? 0, inMemory ?? 0);
    const store = await deps.storeReport();
    const others = (state?.members ?? []).filter((m) => m.id !== deps.self);
    const memberAddresses = others
      .flatMap((m) => {
        const a = announcedMultiaddrs(m).find((x) => !x.toString().includes('/p2p-circuit'));
        return a === undefined ? [] : [`${a.toString()}/p2p/${m.id}`];
      })
      .slice(0, 3);
    return {
      nowMs,
      exposure: exposureNow,
      backup:
        expected && this.file.watchSinceMs !== null
          ? { watchSinceMs: this.file.watchSinceMs, lastSuccessMs, directories: deps.config.directories }
          : null,
      pledge:
        store.pledgeBytes > 0 ? { pledgeBytes: store.pledgeBytes, storedBytes: store.storedBytes } : null,
      joinRequests: (state?.pending ?? [])
        .filter((p) => p.invitedBy === deps.self)
        .map((p) => ({ candidate: p.candidate, name: p.name, sinceMs: p.atMs })),
      emptySources:
        status.state === 'refused'
          ? {
              reason: status.reason,
              sinceMs: status.atMs,
              restoreHint:
                memberAddresses.length > 0
                  ? `${status.restoreHint} (a member's address: ${memberAddresses[0]})`
                  : status.restoreHint,
            }
          : null,
    };
  }

  /** One check: gather, evaluate, log and queue each transition, persist; then send. */
  async check(): Promise<Transition[]> {
    if (this.checking || this.stopped) return [];
    this.checking = true;
    try {
      const nowMs = this.now();
      let snap: AlertSnapshot;
      try {
        snap = await this.snapshot(nowMs);
        this.lastGatherProblem = '';
      } catch (error) {
        const problem = (error as Error).message;
        if (problem !== this.lastGatherProblem)
          this.deps.log(`alerts: cannot gather the conditions: ${problem}`);
        this.lastGatherProblem = problem;
        return [];
      }
      const { state, transitions } = evaluateAlerts(this.file.rules, snap, this.deps.config.alerts);
      this.file.rules = state;
      const context = { memberName: this.deps.config.name, dataDir: this.deps.dataDir };
      for (const t of transitions) {
        const mail = renderAlertMail(t, context);
        this.deps.log(`ALERT ${t.type === 'open' ? 'opened' : 'cleared'}: ${mail.subject}`);
        if (this.mailConfigured || this.deps.send !== undefined) this.enqueue(mail, nowMs);
      }
      this.save();
      if (this.file.outbox.length > 0) void this.flush();
      return transitions;
    } finally {
      this.checking = false;
    }
  }

  private enqueue(mail: AlertMail, nowMs: number): void {
    if (this.file.outbox.length >= MAX_OUTBOX) {
      const dropped = this.file.outbox.shift();
      this.deps.log(`alerts: outbox full; dropped the oldest unsent mail "${dropped?.subject}"`);
    }
    this.file.outbox.push({
      ...mail,
      text: mail.text.slice(0, MAX_MAIL_TEXT_CHARS),
      id: `${nowMs}-${this.seq++}`,
      queuedAtMs: nowMs,
      attempts: 0,
      nextAttemptMs: nowMs,
      lastError: null,
    });
  }

  private send(mail: AlertMail): Promise<SentMail> {
    return this.deps.send !== undefined
      ? this.deps.send(mail)
      : sendMail(this.deps.config.mail, this.deps.dataDir, mail, (t) => this.deps.log(`warning: ${t}`));
  }

  /**
   * Sends every due mail in order; a failure waits with backoff (the rest wait behind it). A call
   * while a flush runs returns that flush.
   */
  flush(): Promise<void> {
    if (this.flushing === null)
      this.flushing = this.flushNow().finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    try {
      while (!this.stopped && this.file.outbox.length > 0) {
        const mail = this.file.outbox[0]!;
        const nowMs = this.now();
        if (mail.nextAttemptMs > nowMs) {
          if (this.retryTimer !== null) clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            void this.flush();
          }, mail.nextAttemptMs - nowMs);
          this.retryTimer.unref();
          return;
        }
        try {
          const sent = await this.send(mail);
          this.file.outbox.shift();
          this.deps.log(`alerts: mailed "${mail.subject}" to ${sent.accepted.join(', ')}`);
        } catch (error) {
          const message =
            error instanceof MailError ? error.message : String((error as Error).message ?? error);
          mail.attempts++;
          mail.lastError = message;
          if (mail.attempts >= MAX_SEND_ATTEMPTS) {
            this.file.outbox.shift();
            this.deps.log(`alerts: gave up on "${mail.subject}" after ${mail.attempts} attempts: ${message}`);
          } else {
            mail.nextAttemptMs = this.now() + retryDelayMs(mail.attempts);
            this.deps.log(
              `alerts: could not send "${mail.subject}" (attempt ${mail.attempts}; next in ${Math.round(retryDelayMs(mail.attempts) / 1000)} s): ${message}`,
            );
          }
        }
        this.save();
      }
    } catch (error) {
      this.deps.log(`alerts: outbox: ${(error as Error).message}`);
    }
  }

  /** `pb-node alerts test`: one mail now, not queued; the SMTP error is the caller's to show. */
  async sendTest(): Promise<SentMail> {
    const mail = renderTestMail(
      { memberName: this.deps.config.name, dataDir: this.deps.dataDir },
      this.now(),
    );
    return this.send(mail);
  }
}
