/**
 * The status report's numbers (docs/design.md §11; docs/status.md; docs/status.schema.json): one
 * typed object built from the daemon's live state, printed by `pb-node status`, served as JSON to
 * the dashboard and read by alerts. Every capacity, allowance, exposure, sighting and rate number
 * comes from the engine (`memberStatus`, `exposure`, `memberSightings`, `uploadSample`,
 * `allowances` via `pledgeHelp`, `capacityReport`, `chooseCode`), the same functions the
 * simulator reports; this module only gathers their answers. The types are in status-types.ts,
 * the words in status-words.ts.
 *
 * `buildStatusReport` is pure: the clock (`nowMs`) and every live measurement are arguments.
 */
import {
  type Agreement,
  availabilityOf,
  capacityReport,
  chooseCode,
  DEFAULT_GRACE_MS,
  DEFAULT_ONLINE_WINDOW_MS,
  estimatedDoneMs,
  exposure,
  type MemberSighting,
  type MemberStatus,
  memberSightings,
  memberStatus,
  type PledgeHelp,
  pledgeHelp,
  sampleRate,
} from '../../../engine/index.ts';
import type { StatusInput, StatusMemberRow, StatusReport } from './status-types.ts';
import { MAX_REPORT_MEMBERS, STATUS_REPORT_VERSION } from './status-types.ts';
import { cappedDataRate, uploadSection } from './status-upload.ts';
import {
  describeBackup,
  describeCapacity,
  describeExposure,
  describeReach,
  describeSize,
} from './status-words.ts';

export { NO_REPAIR, type RepairProgress, repairProgressFrom } from './status-repair.ts';
export {
  MAX_REPORT_MEMBERS,
  type MemberAvailability,
  STATUS_REPORT_VERSION,
  type StatusInput,
  type StatusMemberRow,
  type StatusReport,
} from './status-types.ts';
export { formatAgo, formatDuration } from './status-words.ts';

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

/** The group's code and capacity today, and each member's status over this owner's stripes. */
function groupNumbers(input: StatusInput): {
  statuses: MemberStatus[];
  code: StatusReport['group']['code'];
  shareBytes: number | null;
  boundBytes: number | null;
  capped: Set<string>;
} {
  const capped = new Set<string>();
  if (input.agreement === null || input.members.length === 0)
    return { statuses: [], code: null, shareBytes: null, boundBytes: null, capped };
  const pledges = input.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes }));
  const statuses = memberStatus({
    members: pledges,
    agreement: input.agreement,
    stripes: input.stripes,
    kMax: input.kMax,
  });
  const choice = chooseCode(input.agreement, Math.max(0, input.members.length - 1), input.kMax);
  const code: StatusReport['group']['code'] = choice.feasible
    ? {
        feasible: true,
        dataShards: choice.dataShards,
        parityShards: choice.parityShards,
        repairSlack: choice.repairSlack,
        spareParity: choice.spareParity,
      }
    : { feasible: false, reason: choice.reason };
  if (!choice.feasible || input.members.length < choice.dataShards + choice.parityShards)
    return { statuses, code, shareBytes: null, boundBytes: null, capped };
  const cap = capacityReport(
    input.members.map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes })),
    choice.dataShards,
    choice.parityShards,
  );
  for (const m of cap.members) if (m.capped) capped.add(m.id);
  return { statuses, code, shareBytes: cap.shareBytes, boundBytes: cap.boundBytes, capped };
}

function backupSection(
  input: StatusInput,
  ctx: { inGroup: boolean; code: StatusReport['group']['code']; mine: MemberStatus | undefined },
  upload: StatusReport['upload'] | null,
): StatusReport['backup'] {
  const { nowMs } = input;
  const b = input.backup;
  const pendingBytes = b.pending?.bytes ?? null;
  const pendingFiles = b.pending?.files ?? null;
  const missing = [...(b.pending?.missing ?? [])].slice(0, MAX_REPORT_MEMBERS);
  const rate = cappedDataRate(
    sampleRate(b.recentUpload),
    upload ?? null,
    ctx.code?.feasible === true ? ctx.code : null,
  );
  const doneMs = estimatedDoneMs(pendingBytes, rate, nowMs);
  const upToDate =
    b.directories.length > 0 &&
    missing.length === 0 &&
    b.state !== 'refused' &&
    b.state !== 'running' &&
    !b.interrupted &&
    b.lastSnapshot !== null &&
    b.pending?.complete === true &&
    b.pending.bytes === 0 &&
    b.pending.files === 0;
  const backedUpBytes = ctx.mine?.backedUpBytes ?? 0;
  const storedWithRedundancyBytes = ctx.mine?.storedWithRedundancyBytes ?? 0;
  const stripes = input.stripes.reduce((n, s) => n + (s.count ?? 1), 0);
  const words = describeBackup({
    directories: b.directories.length,
    missing,
    state: b.state,
    refused: b.refused,
    interrupted: b.interrupted,
    lastSnapshot: b.lastSnapshot,
    pendingBytes,
    pendingFiles,
    pendingCheckedAtMs: b.pending?.checkedAtMs ?? null,
    complete: b.pending?.complete ?? false,
    paused: upload?.paused === true,
    rate,
    estimatedDoneMs: doneMs,
    upToDate,
    nowMs,
    inGroup: ctx.inGroup,
  });
  return {
    directories: [...b.directories],
    state: b.state,
    upToDate,
    lastSnapshot: b.lastSnapshot,
    pendingBytes,
    pendingFiles,
    pendingCheckedAtMs: b.pending?.checkedAtMs ?? null,
    uploadBytesPerSecond: rate,
    estimatedDoneMs: doneMs,
    interrupted: b.interrupted,
    refused: b.refused,
    stripes,
    backedUpBytes,
    storedWithRedundancyBytes,
    missingDirectories: missing,
    words,
    sizeWords: describeSize({
      lastSnapshotBytes: b.lastSnapshot?.bytes ?? null,
      backedUpBytes,
      storedWithRedundancyBytes,
      stripes,
    }),
  };
}

function capacitySection(
  input: StatusInput,
  mine: MemberStatus | undefined,
  inGroup: boolean,
): StatusReport['capacity'] {
  if (!inGroup || mine === undefined || input.agreement === null) return null;
  const help =
    mine.limitedBy === 'group'
      ? cachedPledgeHelp(
          input.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
          input.agreement,
          input.self.id,
          input.kMax,
        )
      : null;
  const name = input.members.find((m) => m.id === help?.memberId)?.name;
  const withName = help === null ? null : { ...help, memberName: name ?? help.memberId };
  return {
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

/** The report's clock: now, the grace and the online window (bounded by the grace). */
function reportTimes(input: StatusInput): { nowMs: number; graceMs: number; onlineWindowMs: number } {
  const { nowMs } = input;
  if (!Number.isFinite(nowMs) || nowMs < 0) fail('nowMs must be a time');
  const graceMs = input.graceMs ?? DEFAULT_GRACE_MS;
  // A grace shorter than the default window (a test group) bounds the window: the engine refuses
  // a window longer than the grace.
  const onlineWindowMs = input.onlineWindowMs ?? Math.min(DEFAULT_ONLINE_WINDOW_MS, graceMs);
  return { nowMs, graceMs, onlineWindowMs };
}

/**
 * Sightings, the engine's rule (the same in repair and alerts): heard from, or never heard from
 * and counted from the later of its join and the start of tracking, never online.
 */
function sightingsOf(input: StatusInput, onlineWindowMs: number): MemberSighting[] {
  const { nowMs } = input;
  return memberSightings(
    input.members.map((m) => ({
      id: m.id,
      seenMs: input.lastSeenMs.get(m.id) ?? null,
      joinedAtMs: m.sinceMs ?? null,
    })),
    input.self.id,
    { nowMs, trackingSinceMs: Math.min(nowMs, input.trackingSinceMs ?? input.startedAtMs), onlineWindowMs },
  );
}

/** One row per member: pledge, use, allowance, what it holds of mine, availability and reach. */
function memberRows(
  input: StatusInput,
  sightings: readonly MemberSighting[],
  times: { nowMs: number; graceMs: number; onlineWindowMs: number },
  numbers: { statusOf: ReadonlyMap<string, MemberStatus>; capped: ReadonlySet<string> },
): StatusMemberRow[] {
  const { nowMs } = times;
  return input.members.map((m, i) => {
    const st = numbers.statusOf.get(m.id);
    const self = m.id === input.self.id;
    const usedBytes = self ? input.store.storedBytes : (input.usage.get(m.id)?.usedBytes ?? null);
    const availability = availabilityOf(sightings[i], times);
    const connected = self || input.connected.has(m.id);
    const path = self ? null : (input.paths?.get(m.id) ?? null);
    const shown = self ? 'self' : availability === 'removed' ? 'lost' : availability;
    const capped = numbers.capped.has(m.id);
    return {
      id: m.id,
      name: m.name,
      self,
      pledgeBytes: m.pledgeBytes,
      usedBytes,
      usedFraction: usedBytes === null ? null : m.pledgeBytes > 0 ? usedBytes / m.pledgeBytes : 0,
      allowanceBytes: st?.allowanceBytes ?? 0,
      limitedBy: st?.limitedBy ?? 'group',
      capped,
      holdsOfMineBytes: st?.pledgeUsedBytes ?? 0,
      addresses: [...(m.addresses ?? [])].slice(0, 8),
      lastSeenMs: self ? nowMs : (input.lastSeenMs.get(m.id) ?? null),
      availability: shown,
      connected,
      path,
      reach: describeReach({ self, availability: shown, connected, capped, path, nowMs }),
    };
  });
}

/** This owner's exposure (the engine's `exposure` over its stripes and the sightings), with words. */
function exposureSection(
  input: StatusInput,
  sightings: MemberSighting[],
  times: { nowMs: number; graceMs: number; onlineWindowMs: number },
): StatusReport['exposure'] {
  const { nowMs } = times;
  const exp = exposure({
    members: sightings,
    stripes: input.stripes,
    tolerance: input.agreement?.tolerance ?? 0,
    ...times,
    ...(input.repair.bytesPerSecond !== null && input.repair.bytesPerSecond > 0
      ? { repairBytesPerSecond: input.repair.bytesPerSecond }
      : {}),
  });
  const own = exp.owners.find((o) => o.owner === input.self.id);
  const totals = {
    storedBytes: own?.storedBytes ?? 0,
    exposedBytes: own?.exposedBytes ?? 0,
    unreadableNowBytes: own?.unreadableNowBytes ?? 0,
    unrecoverableBytes: own?.unrecoverableBytes ?? 0,
    repairQueueBytes: own?.repairQueueBytes ?? 0,
    protectedByMs: own === undefined ? nowMs : own.protectedByMs,
  };
  return { ...totals, words: describeExposure(totals, input.agreement?.tolerance ?? 0, nowMs) };
}

/** The join requests, each with who invited it and whether this node decides. */
function requestRows(input: StatusInput): StatusReport['requests'] {
  const names = new Map(input.members.map((m) => [m.id, m.name]));
  return input.requests.map((r) => ({
    candidate: r.candidate,
    request: r.request,
    name: r.name,
    invitedBy: r.invitedBy,
    invitedByName: names.get(r.invitedBy) ?? r.invitedBy,
    mine: r.invitedBy === input.self.id,
    atMs: r.atMs,
  }));
}

export function buildStatusReport(input: StatusInput): StatusReport {
  const times = reportTimes(input);
  if (input.members.length > MAX_REPORT_MEMBERS || input.requests.length > MAX_REPORT_MEMBERS)
    fail(`at most ${MAX_REPORT_MEMBERS} members and requests`);
  const selfId = input.self.id;
  const inGroup = input.isMember && input.agreement !== null && input.members.some((m) => m.id === selfId);
  const sightings = sightingsOf(input, times.onlineWindowMs);
  const { statuses, code, shareBytes, boundBytes, capped } = groupNumbers(input);
  const statusOf = new Map(statuses.map((s) => [s.id, s]));
  const mine = statusOf.get(selfId);
  const upload = input.upload === undefined ? null : uploadSection(input.upload);
  return {
    version: STATUS_REPORT_VERSION,
    generatedAtMs: times.nowMs,
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
    backup: backupSection(input, { inGroup, code, mine }, upload),
    capacity: capacitySection(input, mine, inGroup),
    pledge: {
      pledgeBytes: input.store.pledgeBytes,
      usedBytes: input.store.storedBytes,
      usedFraction: input.store.pledgeBytes > 0 ? input.store.storedBytes / input.store.pledgeBytes : 0,
      reservationBytes: input.store.reservationBytes,
      formerMembersBytes: input.store.formerMembersBytes ?? null,
    },
    members: memberRows(input, sightings, times, { statusOf, capped }),
    exposure: exposureSection(input, sightings, times),
    repair: input.repair,
    requests: requestRows(input),
    dashboard: { url: input.dashboardUrl },
    ...(upload === null ? {} : { upload }),
  };
}
