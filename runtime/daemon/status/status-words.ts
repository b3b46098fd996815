/**
 * The status report in plain words (docs/status.md): each section's sentence from the numbers
 * status-report.ts computed. Nothing here decides; it only says.
 */
import { type Agreement, formatDuration, type MemberStatus, type PledgeHelp } from '../../../engine/index.ts';
import type { PeerHealthView } from '../../net/peer-health.ts';
import { formatSize } from '../units.ts';

export { formatDuration };

export function formatAgo(thenMs: number, nowMs: number): string {
  const d = nowMs - thenMs;
  return d < 2000 ? 'just now' : `${formatDuration(d)} ago`;
}

/** How to get a deleted directory back from the group (`pb-node status` lists the addresses). */
/**
 * How to bring back configured directories deleted after a backup: this daemon still has its
 * index, so a restore in place of just those paths, never overwriting what is there.
 */
export function restoreInPlace(dirs: readonly string[]): string {
  return `pb-node restore ${dirs.map((d) => `--path ${quotePath(d)}`).join(' ')} --overwrite never`;
}

/** A path as a shell word: quoted when it holds anything but plain characters. */
function quotePath(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}

/** A pending check older than this shows its age. */
export const SHOW_CHECK_AGE_MS = 5_000;

/** "about 3 min"; under a minute never reads "0 s". */
export function formatEta(ms: number): string {
  return ms < 60_000 ? 'under a minute' : `about ${formatDuration(ms)}`;
}

export interface BackupFacts {
  directories: number;
  missing: readonly string[];
  state: 'idle' | 'running' | 'refused';
  refused: { reason: string; restoreHint: string } | null;
  interrupted: boolean;
  lastSnapshot: { atMs: number; files: number; bytes: number } | null;
  pendingBytes: number | null;
  pendingFiles: number | null;
  pendingCheckedAtMs: number | null;
  complete: boolean;
  paused: boolean;
  rate: number | null;
  estimatedDoneMs: number | null;
  upToDate: boolean;
  nowMs: number;
  inGroup: boolean;
}

export function describeBackup(x: BackupFacts): string {
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
  if (x.missing.length > 0) {
    const names =
      x.missing.slice(0, 3).join(', ') + (x.missing.length > 3 ? ` and ${x.missing.length - 3} more` : '');
    parts.push(
      `the configured director${x.missing.length === 1 ? 'y' : 'ies'} ${names} ${x.missing.length === 1 ? 'does' : 'do'} not exist${
        x.lastSnapshot === null ? '' : ` (deleted? to restore: ${restoreInPlace(x.missing.slice(0, 3))})`
      }`,
    );
  }
  const age =
    x.pendingCheckedAtMs !== null && x.nowMs - x.pendingCheckedAtMs > SHOW_CHECK_AGE_MS
      ? ` (checked ${formatAgo(x.pendingCheckedAtMs, x.nowMs)})`
      : '';
  if (x.pendingBytes !== null && x.pendingFiles !== null) {
    if (x.pendingFiles > 0 || x.missing.length === 0)
      parts.push(
        `${formatSize(x.pendingBytes)} in ${x.pendingFiles} changed file${x.pendingFiles === 1 ? '' : 's'} not backed up yet${x.complete ? '' : ' (at least: the check stopped early)'}${age}`,
      );
  } else parts.push('not checked yet');
  if (x.state === 'running') parts.push('a backup is running');
  else if (x.interrupted) parts.push('the last backup was cut off and resumes soon');
  if (x.estimatedDoneMs !== null && x.rate !== null)
    parts.push(
      `done in ${formatEta(x.estimatedDoneMs - x.nowMs)} at the recent ${formatSize(x.rate)}/s${x.state === 'running' ? '' : ' once the next backup starts'}`,
    );
  else if (x.paused) parts.push('uploads are paused');
  else if ((x.pendingBytes ?? 0) > 0) parts.push('the upload rate is unknown yet, so is when');
  return `no: ${parts.join('; ')}; ${last}`;
}

/**
 * What the backup occupies, explained in one line: this member's stripes (every kept snapshot,
 * after dedup and compression), that with redundancy, and the apparent size of the last
 * snapshot's files it came from.
 */
export function describeSize(x: {
  lastSnapshotBytes: number | null;
  backedUpBytes: number;
  storedWithRedundancyBytes: number;
  stripes: number;
}): string {
  if (x.stripes === 0) return 'nothing stored yet';
  const stored = `${formatSize(x.backedUpBytes)} in ${x.stripes} stripe${x.stripes === 1 ? '' : 's'}, ${formatSize(x.storedWithRedundancyBytes)} with redundancy`;
  return x.lastSnapshotBytes === null
    ? stored
    : `${stored} (from ${formatSize(x.lastSnapshotBytes)} of files in the last snapshot, after dedup and compression)`;
}

export function describeCapacity(
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

export function describeExposure(
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
        : `protected again in ${formatEta(e.protectedByMs - nowMs)}`,
    );
  }
  if (e.unreadableNowBytes > 0)
    parts.push(`${formatSize(e.unreadableNowBytes)} cannot be read right now (too few holders online)`);
  return parts.join('; ');
}

/** A failed request newer than the last success this recent shows in the reach column. */
export const SHOW_FAILURE_MS = 10 * 60_000;

/**
 * The "reach" column: how a member is reached now. Connected: the paths of its open connections
 * ("direct", "relay", "webrtc") and the rate of its recent transfers. Not connected: "not
 * connected now" while it still counts as online (seen within the online window), else its
 * availability ("away", "lost"), with the last failed request when it is newer than the last
 * success.
 */
export function describeReach(x: {
  self: boolean;
  availability: string;
  connected: boolean;
  capped: boolean;
  path: PeerHealthView | null;
  nowMs: number;
}): string {
  if (x.self) return '';
  const parts: string[] = [];
  if (x.connected) {
    const via = x.path !== null && x.path.via.length > 0 ? x.path.via.join(' + ') : 'connected';
    const rate = x.path?.bytesPerSecond ?? null;
    parts.push(rate === null ? via : `${via} ${formatSize(rate)}/s`);
  } else {
    parts.push(x.availability === 'online' ? 'not connected now' : x.availability);
    const f = x.path?.lastFailure ?? null;
    if (f !== null && x.nowMs - f.atMs <= SHOW_FAILURE_MS && (x.path?.lastOkMs ?? 0) < f.atMs)
      parts.push(`last try ${formatAgo(f.atMs, x.nowMs)} failed`);
  }
  if (x.capped) parts.push('capped');
  return parts.join(', ');
}
