/**
 * The status report (docs/design.md §11; docs/status.md; docs/status.schema.json): one typed
 * object built from the daemon's live state, printed by `pb-node status`, served as JSON to the
 * dashboard and used by alerts. Every capacity, allowance and exposure number comes from the
 * engine (`memberStatus`, `exposure`, `allowances` via `pledgeHelp`, `capacityReport`,
 * `chooseCode`), the same functions the simulator reports; this module only gathers their answers
 * and puts them into plain words.
 *
 * `buildStatusReport` is pure: the clock (`nowMs`) and every live measurement are arguments.
 */
import {
  type Agreement,
  availabilityOf,
  type CountedStripe,
  capacityReport,
  chooseCode,
  DEFAULT_GRACE_MS,
  DEFAULT_ONLINE_WINDOW_MS,
  exposure,
  type MemberSighting,
  type MemberStatus,
  memberStatus,
  type PledgeHelp,
  pledgeHelp,
} from '../../engine/index.ts';
import { cappedDataRate, type StatusUpload, type UploadInput, uploadSection } from './status-upload.ts';
import { formatSize } from './units.ts';

/** Bumped on any incompatible change of the report's JSON (docs/status.schema.json). */
export const STATUS_REPORT_VERSION = 1;
/** Members, requests and directories listed in one report (a group is small; the fold bounds it too). */
export const MAX_REPORT_MEMBERS = 1000;

export type MemberAvailability = 'self' | 'online' | 'away' | 'lost';

export interface RepairProgress {
  /** 'daemon' when the daemon's repair worker reported these numbers; 'none' when it has none. */
  readonly source: 'daemon' | 'none';
  /** Repair or migration tasks running on this member now. */
  readonly running: number;
  readonly queuedTasks: number;
  readonly repairsDone: number;
  readonly migrationsDone: number;
  readonly failedTasks: number;
  readonly shardsMoved: number;
  /** Bytes sent and received for repairs and migrations since the daemon started (the traffic chart). */
  readonly movedBytes: number;
  /** The repair bandwidth cap (the exposure estimate uses it); null for none or unknown. */
  readonly bytesPerSecond: number | null;
  /** Stripes of the whole group that the last plan found needing repair; null before a plan. */
  readonly stripesNeedingRepair: number | null;
  readonly lastRoundAtMs: number | null;
  readonly lastError: string | null;
}

export const NO_REPAIR: RepairProgress = {
  source: 'none',
  running: 0,
  queuedTasks: 0,
  repairsDone: 0,
  migrationsDone: 0,
  failedTasks: 0,
  shardsMoved: 0,
  movedBytes: 0,
  bytesPerSecond: null,
  stripesNeedingRepair: null,
  lastRoundAtMs: null,
  lastError: null,
};

/**
 * The repair worker's status object (runtime/daemon/repair-service.ts `RepairStatus`) as the
 * report's `repair`, read field by field: a missing worker gives NO_REPAIR, a missing or bad
 * field gives 0 (or null), never NaN.
 */
export function repairProgressFrom(status: unknown, bytesPerSecond: unknown): RepairProgress {
  if (status === null || typeof status !== 'object') return NO_REPAIR;
  const o = status as Record<string, unknown>;
  const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const plan =
    o.lastPlan !== null && typeof o.lastPlan === 'object' ? (o.lastPlan as Record<string, unknown>) : null;
  const rate =
    typeof bytesPerSecond === 'number' && Number.isFinite(bytesPerSecond) && bytesPerSecond > 0
      ? bytesPerSecond
      : null;
  return {
    source: 'daemon',
    running: count(o.running),
    queuedTasks: count(o.queued),
    repairsDone: count(o.repairsDone),
    migrationsDone: count(o.migrationsDone),
    failedTasks: count(o.failedTasks),
    shardsMoved: count(o.shardsMoved),
    movedBytes: count(o.bytesMoved),
    bytesPerSecond: rate,
    stripesNeedingRepair: plan === null ? null : count(plan.needRepair),
    lastRoundAtMs: typeof o.lastRoundAtMs === 'number' && o.lastRoundAtMs >= 0 ? o.lastRoundAtMs : null,
    lastError: typeof o.lastError === 'string' ? o.lastError.slice(0, 300) : null,
  };
}

export interface StatusInput {
  readonly nowMs: number;
  /** When this daemon started: a member never seen counts as last seen just before it. */
  readonly startedAtMs: number;
  readonly self: { readonly id: string; readonly name: string };
  readonly groupId: string | null;
  readonly isMember: boolean;
  readonly agreement: Agreement | null;
  readonly members: readonly { readonly id: string; readonly name: string; readonly pledgeBytes: number }[];
  readonly requests: readonly {
    readonly candidate: string;
    readonly request: string;
    readonly name: string;
    readonly invitedBy: string;
    readonly atMs: number;
  }[];
  /** This member's own stripes (from its index), aggregated with `count` where identical. */
  readonly stripes: readonly CountedStripe[];
  readonly lastSeenMs: ReadonlyMap<string, number>;
  readonly connected: ReadonlySet<string>;
  /** Each other member's answer to `usage` (its whole pledge use), when it answered. */
  readonly usage: ReadonlyMap<string, { readonly usedBytes: number; readonly atMs: number }>;
  readonly store: {
    readonly pledgeBytes: number;
    readonly storedBytes: number;
    readonly reservationBytes: number;
  };
  readonly backup: {
    readonly directories: readonly string[];
    readonly state: 'idle' | 'running' | 'refused';
    readonly refused: { readonly reason: string; readonly restoreHint: string; readonly atMs: number } | null;
    readonly interrupted: boolean;
    readonly lastSnapshot: {
      readonly id: string;
      readonly atMs: number;
      readonly files: number;
      readonly bytes: number;
    } | null;
    /** Source bytes and files not yet in the index (pending-scan.ts); null when not measured. */
    readonly pending: {
      readonly bytes: number;
      readonly files: number;
      readonly checkedAtMs: number;
      readonly complete: boolean;
    } | null;
    /** Data bytes committed over the most recent span of stripe commits (the upload rate). */
    readonly recentUpload: { readonly bytes: number; readonly spanMs: number } | null;
  };
  readonly repair: RepairProgress;
  readonly graceMs?: number | undefined;
  readonly onlineWindowMs?: number | undefined;
  readonly kMax?: number | undefined;
  readonly dashboardUrl: string | null;
  /** The upload cap and pause (upload-governor.ts); absent where there is none (tests, the sim). */
  readonly upload?: UploadInput | undefined;
}

export interface StatusMemberRow {
  readonly id: string;
  readonly name: string;
  readonly self: boolean;
  readonly pledgeBytes: number;
  /** Bytes of other members' shards it holds (its own report); null when it never answered. */
  readonly usedBytes: number | null;
  readonly usedFraction: number | null;
  readonly allowanceBytes: number;
  readonly limitedBy: 'pledge' | 'group';
  /** Holds a shard of every stripe: part of its pledge can never be filled (capacityReport). */
  readonly capped: boolean;
  /** Bytes of this member's backup (shards) it holds. */
  readonly holdsOfMineBytes: number;
  readonly lastSeenMs: number | null;
  readonly availability: MemberAvailability;
  readonly connected: boolean;
}

export interface StatusReport {
  readonly version: typeof STATUS_REPORT_VERSION;
  readonly generatedAtMs: number;
  readonly self: { readonly id: string; readonly name: string };
  readonly group: {
    readonly id: string | null;
    readonly member: boolean;
    readonly agreement: Agreement | null;
    readonly memberCount: number;
    /** The code this member's stripes use today. */
    readonly code:
      | {
          readonly feasible: true;
          readonly dataShards: number;
          readonly parityShards: number;
          readonly repairSlack: boolean;
          readonly spareParity: boolean;
        }
      | { readonly feasible: false; readonly reason: string }
      | null;
    /** x* over every pledge with today's code (capacityReport); null without a feasible code. */
    readonly shareBytes: number | null;
    /** T* = k x*: user data the whole group can hold. */
    readonly boundBytes: number | null;
  };
  readonly backup: {
    readonly directories: readonly string[];
    readonly state: 'idle' | 'running' | 'refused';
    /** Everything in the directories is in the group and a snapshot names it. */
    readonly upToDate: boolean;
    readonly lastSnapshot: {
      readonly id: string;
      readonly atMs: number;
      readonly files: number;
      readonly bytes: number;
    } | null;
    readonly pendingBytes: number | null;
    readonly pendingFiles: number | null;
    readonly pendingCheckedAtMs: number | null;
    readonly uploadBytesPerSecond: number | null;
    readonly estimatedDoneMs: number | null;
    readonly interrupted: boolean;
    readonly refused: { readonly reason: string; readonly restoreHint: string; readonly atMs: number } | null;
    readonly stripes: number;
    /** User data in this member's stripes (memberStatus.backedUpBytes). */
    readonly backedUpBytes: number;
    /** The same with redundancy: every shard (memberStatus.storedWithRedundancyBytes). */
    readonly storedWithRedundancyBytes: number;
    readonly words: string;
  };
  readonly capacity: {
    readonly pledgeBytes: number;
    readonly agreementBytes: number;
    readonly feasibleBytes: number;
    readonly allowanceBytes: number;
    readonly allowanceLeftBytes: number;
    readonly limitedBy: 'pledge' | 'group';
    readonly reason: string;
    /** What today's other members could hold for this member alone. */
    readonly ownerBoundBytes: number;
    readonly help: (PledgeHelp & { readonly memberName: string }) | null;
    readonly words: string;
  } | null;
  readonly pledge: {
    readonly pledgeBytes: number;
    readonly usedBytes: number;
    readonly usedFraction: number;
    readonly reservationBytes: number;
  };
  readonly members: readonly StatusMemberRow[];
  readonly exposure: {
    readonly storedBytes: number;
    readonly exposedBytes: number;
    readonly unreadableNowBytes: number;
    readonly unrecoverableBytes: number;
    readonly repairQueueBytes: number;
    readonly protectedByMs: number | null;
    readonly words: string;
  };
  readonly repair: RepairProgress;
  readonly requests: readonly {
    readonly candidate: string;
    readonly request: string;
    readonly name: string;
    readonly invitedBy: string;
    readonly invitedByName: string;
    readonly mine: boolean;
    readonly atMs: number;
  }[];
  readonly dashboard: { readonly url: string | null };
  /** The upload cap in force and the pause (absent for a report built without them). */
  readonly upload?: StatusUpload;
}

/** pledgeHelp costs tens of allowance computations: remembered per (agreement, pledges, self). */
const helpCache = new Map<string, PledgeHelp | null>();
const MAX_HELP_CACHE = 16;

function cachedPledgeHelp(
  members: readonly { id: string; pledgeBytes: number }[],
  agreement: Agreement,
  self: string,
  kMax: number | undefined,
): PledgeHelp | null {
  const key = JSON.stringify([agreement.ratio, agreement.tolerance, kMax ?? null, self, members]);
  if (helpCache.has(key)) return helpCache.get(key)!;
  const help = pledgeHelp(members, agreement, self, kMax);
  if (helpCache.size >= MAX_HELP_CACHE) helpCache.delete(helpCache.keys().next().value!);
  helpCache.set(key, help);
  return help;
}

function fail(message: string): never {
  throw new TypeError(`status report: ${message}`);
}

export function buildStatusReport(input: StatusInput): StatusReport {
  const { nowMs } = input;
  if (!Number.isFinite(nowMs) || nowMs < 0) fail('nowMs must be a time');
  if (input.members.length > MAX_REPORT_MEMBERS || input.requests.length > MAX_REPORT_MEMBERS)
    fail(`at most ${MAX_REPORT_MEMBERS} members and requests`);
  const graceMs = input.graceMs ?? DEFAULT_GRACE_MS;
  // A grace shorter than the default window (a test group) bounds the window: the engine refuses
  // a window longer than the grace.
  const onlineWindowMs = input.onlineWindowMs ?? Math.min(DEFAULT_ONLINE_WINDOW_MS, graceMs);
  const times = { nowMs, graceMs, onlineWindowMs };
  const selfId = input.self.id;
  const names = new Map(input.members.map((m) => [m.id, m.name]));
  const inGroup = input.isMember && input.agreement !== null && input.members.some((m) => m.id === selfId);

  // Sightings: this node now; another member when last heard from (in this run or, recorded, in
  // an earlier one), or, never heard from at all, as away from just before the start (held, not
  // online).
  const notSeenMs = Math.max(0, input.startedAtMs - onlineWindowMs - 1);
  const sightings: MemberSighting[] = input.members.map((m) => ({
    id: m.id,
    lastSeenMs: m.id === selfId ? nowMs : (input.lastSeenMs.get(m.id) ?? notSeenMs),
    removed: false,
  }));

  let statuses: MemberStatus[] = [];
  let code: StatusReport['group']['code'] = null;
  let shareBytes: number | null = null;
  let boundBytes: number | null = null;
  const capped = new Set<string>();
  if (input.agreement !== null && input.members.length > 0) {
    statuses = memberStatus({
      members: input.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
      agreement: input.agreement,
      stripes: input.stripes,
      kMax: input.kMax,
    });
    const choice = chooseCode(input.agreement, Math.max(0, input.members.length - 1), input.kMax);
    code = choice.feasible
      ? {
          feasible: true,
          dataShards: choice.dataShards,
          parityShards: choice.parityShards,
          repairSlack: choice.repairSlack,
          spareParity: choice.spareParity,
        }
      : { feasible: false, reason: choice.reason };
    if (choice.feasible && input.members.length >= choice.dataShards + choice.parityShards) {
      const cap = capacityReport(
        input.members.map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes })),
        choice.dataShards,
        choice.parityShards,
      );
      shareBytes = cap.shareBytes;
      boundBytes = cap.boundBytes;
      for (const m of cap.members) if (m.capped) capped.add(m.id);
    }
  }
  const statusOf = new Map(statuses.map((s) => [s.id, s]));
  const mine = statusOf.get(selfId);

  const exp = exposure({
    members: sightings,
    stripes: input.stripes,
    tolerance: input.agreement?.tolerance ?? 0,
    nowMs,
    graceMs,
    onlineWindowMs,
    ...(input.repair.bytesPerSecond !== null && input.repair.bytesPerSecond > 0
      ? { repairBytesPerSecond: input.repair.bytesPerSecond }
      : {}),
  });
  const ownExposure = exp.owners.find((o) => o.owner === selfId);

  const members: StatusMemberRow[] = input.members.map((m, i) => {
    const st = statusOf.get(m.id);
    const self = m.id === selfId;
    const usedBytes = self ? input.store.storedBytes : (input.usage.get(m.id)?.usedBytes ?? null);
    const seen = self ? nowMs : (input.lastSeenMs.get(m.id) ?? null);
    const availability = availabilityOf(sightings[i], times);
    return {
      id: m.id,
      name: m.name,
      self,
      pledgeBytes: m.pledgeBytes,
      usedBytes,
      usedFraction: usedBytes === null ? null : m.pledgeBytes > 0 ? usedBytes / m.pledgeBytes : 0,
      allowanceBytes: st?.allowanceBytes ?? 0,
      limitedBy: st?.limitedBy ?? 'group',
      capped: capped.has(m.id),
      holdsOfMineBytes: st?.pledgeUsedBytes ?? 0,
      lastSeenMs: seen,
      availability: self ? 'self' : availability === 'removed' ? 'lost' : availability,
      connected: self || input.connected.has(m.id),
    };
  });

  // Backup: pending, rate, completion.
  const b = input.backup;
  const pendingBytes = b.pending?.bytes ?? null;
  const pendingFiles = b.pending?.files ?? null;
  const upload = input.upload === undefined ? null : uploadSection(input.upload);
  const rate = cappedDataRate(
    b.recentUpload !== null && b.recentUpload.spanMs >= 1000 && b.recentUpload.bytes > 0
      ? (b.recentUpload.bytes / b.recentUpload.spanMs) * 1000
      : null,
    upload,
    code?.feasible === true ? code : null,
  );
  const estimatedDoneMs =
    pendingBytes === null || pendingBytes === 0
      ? null
      : rate === null
        ? null
        : nowMs + Math.ceil((pendingBytes / rate) * 1000);
  const upToDate =
    b.directories.length > 0 &&
    b.state !== 'refused' &&
    b.state !== 'running' &&
    !b.interrupted &&
    b.lastSnapshot !== null &&
    b.pending?.complete === true &&
    b.pending.bytes === 0 &&
    b.pending.files === 0;
  const backedUpBytes = mine?.backedUpBytes ?? 0;
  const storedWithRedundancyBytes = mine?.storedWithRedundancyBytes ?? 0;
  const stripes = input.stripes.reduce((n, s) => n + (s.count ?? 1), 0);

  const backupWords = describeBackup({
    directories: b.directories.length,
    state: b.state,
    refused: b.refused,
    interrupted: b.interrupted,
    lastSnapshot: b.lastSnapshot,
    pendingBytes,
    pendingFiles,
    complete: b.pending?.complete ?? false,
    paused: upload?.paused === true,
    rate,
    estimatedDoneMs,
    upToDate,
    nowMs,
    inGroup,
  });

  let capacity: StatusReport['capacity'] = null;
  if (inGroup && mine !== undefined && input.agreement !== null) {
    const help =
      mine.limitedBy === 'group'
        ? cachedPledgeHelp(
            input.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
            input.agreement,
            selfId,
            input.kMax,
          )
        : null;
    const withName =
      help === null ? null : { ...help, memberName: names.get(help.memberId) ?? help.memberId };
    capacity = {
      pledgeBytes: mine.pledgeBytes,
      agreementBytes: mine.agreementBytes,
      feasibleBytes: mine.feasibleBytes,
      allowanceBytes: mine.allowanceBytes,
      allowanceLeftBytes: mine.allowanceLeftBytes,
      limitedBy: mine.limitedBy,
      reason: mine.reason,
      ownerBoundBytes: mine.boundBytes,
      help: withName,
      words: describeCapacity(mine, input.agreement, withName),
    };
  }

  const exposureTotals = {
    storedBytes: ownExposure?.storedBytes ?? 0,
    exposedBytes: ownExposure?.exposedBytes ?? 0,
    unreadableNowBytes: ownExposure?.unreadableNowBytes ?? 0,
    unrecoverableBytes: ownExposure?.unrecoverableBytes ?? 0,
    repairQueueBytes: ownExposure?.repairQueueBytes ?? 0,
    protectedByMs: ownExposure === undefined ? nowMs : ownExposure.protectedByMs,
  };

  return {
    version: STATUS_REPORT_VERSION,
    generatedAtMs: nowMs,
    self: { id: selfId, name: input.self.name },
    group: {
      id: input.groupId,
      member: input.isMember,
      agreement: input.agreement,
      memberCount: input.members.length,
      code,
      shareBytes,
      boundBytes,
    },
    backup: {
      directories: [...b.directories],
      state: b.state,
      upToDate,
      lastSnapshot: b.lastSnapshot,
      pendingBytes,
      pendingFiles,
      pendingCheckedAtMs: b.pending?.checkedAtMs ?? null,
      uploadBytesPerSecond: rate,
      estimatedDoneMs,
      interrupted: b.interrupted,
      refused: b.refused,
      stripes,
      backedUpBytes,
      storedWithRedundancyBytes,
      words: backupWords,
    },
    capacity,
    pledge: {
      pledgeBytes: input.store.pledgeBytes,
      usedBytes: input.store.storedBytes,
      usedFraction: input.store.pledgeBytes > 0 ? input.store.storedBytes / input.store.pledgeBytes : 0,
      reservationBytes: input.store.reservationBytes,
    },
    members,
    exposure: {
      ...exposureTotals,
      words: describeExposure(exposureTotals, input.agreement?.tolerance ?? 0, nowMs),
    },
    repair: input.repair,
    requests: input.requests.map((r) => ({
      candidate: r.candidate,
      request: r.request,
      name: r.name,
      invitedBy: r.invitedBy,
      invitedByName: names.get(r.invitedBy) ?? r.invitedBy,
      mine: r.invitedBy === selfId,
      atMs: r.atMs,
    })),
    dashboard: { url: input.dashboardUrl },
    ...(upload === null ? {} : { upload }),
  };
}

// --- plain words --------------------------------------------------------------------------

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.round(h / 24)} days`;
}

export function formatAgo(thenMs: number, nowMs: number): string {
  const d = nowMs - thenMs;
  return d < 2000 ? 'just now' : `${formatDuration(d)} ago`;
}

function describeBackup(x: {
  directories: number;
  state: 'idle' | 'running' | 'refused';
  refused: { reason: string; restoreHint: string } | null;
  interrupted: boolean;
  lastSnapshot: { atMs: number; files: number; bytes: number } | null;
  pendingBytes: number | null;
  pendingFiles: number | null;
  complete: boolean;
  paused: boolean;
  rate: number | null;
  estimatedDoneMs: number | null;
  upToDate: boolean;
  nowMs: number;
  inGroup: boolean;
}): string {
  if (x.refused !== null)
    return `REFUSED: ${x.refused.reason} Nothing is backed up until this is resolved. To restore: ${x.refused.restoreHint}`;
  if (x.directories === 0) return 'nothing to back up: no directories are configured';
  if (!x.inGroup) return 'not backed up: this node is not a member of a group yet';
  const last =
    x.lastSnapshot === null
      ? 'no snapshot yet'
      : `last snapshot ${formatAgo(x.lastSnapshot.atMs, x.nowMs)} (${x.lastSnapshot.files} files, ${formatSize(x.lastSnapshot.bytes)})`;
  if (x.upToDate) return `yes, everything is backed up; ${last}`;
  const parts: string[] = [];
  if (x.pendingBytes !== null && x.pendingFiles !== null) {
    parts.push(
      `${formatSize(x.pendingBytes)} in ${x.pendingFiles} changed file${x.pendingFiles === 1 ? '' : 's'} not backed up yet${x.complete ? '' : ' (at least: the check stopped early)'}`,
    );
  } else parts.push('not checked yet');
  if (x.state === 'running') parts.push('a backup is running');
  else if (x.interrupted) parts.push('the last backup was cut off and resumes soon');
  if (x.estimatedDoneMs !== null && x.rate !== null)
    parts.push(
      `done in about ${formatDuration(x.estimatedDoneMs - x.nowMs)} at the recent ${formatSize(x.rate)}/s${x.state === 'running' ? '' : ' once the next backup starts'}`,
    );
  else if (x.paused) parts.push('uploads are paused');
  else if ((x.pendingBytes ?? 0) > 0) parts.push('no recent upload rate to estimate when');
  return `no: ${parts.join('; ')}; ${last}`;
}

function describeCapacity(
  mine: MemberStatus,
  agreement: Agreement,
  help: (PledgeHelp & { memberName: string }) | null,
): string {
  const left = `you can back up ${formatSize(mine.allowanceLeftBytes)} more (allowance ${formatSize(mine.allowanceBytes)}, ${formatSize(mine.backedUpBytes)} used)`;
  if (mine.dataShards === 0) return `you cannot back up yet: ${mine.reason}`;
  if (mine.limitedBy === 'pledge')
    return `${left}; your pledge of ${formatSize(mine.pledgeBytes)} at ratio ${agreement.ratio} is the limit`;
  const why = `your pledge of ${formatSize(mine.pledgeBytes)} would allow ${formatSize(mine.agreementBytes)}, but the other members' capacity is the limit; with today's members each can back up at most ${formatSize(mine.feasibleBytes)}`;
  const more =
    help === null
      ? 'a larger pledge on one member would not raise it: the group needs more members'
      : `if ${help.memberName} pledged ${formatSize(help.extraPledgeBytes)} more, your allowance would rise to ${formatSize(help.allowanceBytes)}`;
  return `${left}; ${why}; ${more}`;
}

function describeExposure(
  e: {
    storedBytes: number;
    exposedBytes: number;
    unreadableNowBytes: number;
    unrecoverableBytes: number;
    repairQueueBytes: number;
    protectedByMs: number | null;
  },
  tolerance: number,
  nowMs: number,
): string {
  if (e.storedBytes === 0) return 'nothing stored yet';
  const parts: string[] = [];
  if (e.unrecoverableBytes > 0)
    parts.push(`${formatSize(e.unrecoverableBytes)} CANNOT be rebuilt from what the group holds`);
  if (e.exposedBytes === 0)
    parts.push(`none: every stripe survives ${tolerance} more lost member${tolerance === 1 ? '' : 's'}`);
  else {
    parts.push(
      `${formatSize(e.exposedBytes)} of ${formatSize(e.storedBytes)} exposed (would not survive ${tolerance} more lost member${tolerance === 1 ? '' : 's'})`,
    );
    parts.push(
      e.protectedByMs === null
        ? 'no estimate of when it is protected again'
        : `protected again in about ${formatDuration(e.protectedByMs - nowMs)}`,
    );
  }
  if (e.unreadableNowBytes > 0)
    parts.push(`${formatSize(e.unreadableNowBytes)} cannot be read right now (too few holders online)`);
  return parts.join('; ');
}
