/**
 * `pb-node status` for a person: the StatusReport (status-report.ts) as short, aligned lines in
 * plain words. The numbers and sentences are the report's own; this only lays them out.
 */

import { formatSize } from '../units.ts';
import { formatAgo, type StatusReport } from './status-report.ts';

const LABEL = 13;

/** A label and its text; a sentence of `; `-separated parts gets one short line per part. */
function line(label: string, text: string): string {
  return text
    .split('; ')
    .map((part, i) => `${(i === 0 ? label : '').padEnd(LABEL)}${i === 0 ? part : `  ${part}`}`)
    .join('\n');
}

function percent(fraction: number): string {
  const p = fraction * 100;
  return p === 0 ? '0%' : p < 0.1 ? '<0.1%' : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

/** Pads each column to its widest cell (the last column is left ragged). */
function table(rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows.map((r) =>
    r
      .map((c, i) =>
        i === r.length - 1 ? c : rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd(),
  );
}

/** The repair worker's progress in a few words. */
export function repairWords(r: StatusReport): string {
  const rp = r.repair;
  if (rp.source === 'none') return 'no repair worker reports yet';
  const parts = [
    rp.running > 0 || rp.queuedTasks > 0
      ? `${rp.running} task${rp.running === 1 ? '' : 's'} running, ${rp.queuedTasks} queued`
      : 'idle',
    `${rp.repairsDone} repairs and ${rp.migrationsDone} migrations done (${formatSize(rp.movedBytes)} moved)`,
  ];
  if (rp.stripesNeedingRepair !== null && rp.stripesNeedingRepair > 0)
    parts.push(`${rp.stripesNeedingRepair} stripes in the group need repair`);
  if (rp.lastRoundAtMs !== null) parts.push(`last round ${formatAgo(rp.lastRoundAtMs, r.generatedAtMs)}`);
  if (rp.failedTasks > 0)
    parts.push(`${rp.failedTasks} tasks failed${rp.lastError === null ? '' : `, last: ${rp.lastError}`}`);
  return parts.join('; ');
}

/** The "Group" line: its id, members, agreement and the code of new stripes. */
function groupLine(r: StatusReport): string {
  const g = r.group;
  if (g.id === null)
    return line('Group', 'none yet: `pb-node create` founds one, `pb-node join <code>` joins one');
  const shape =
    g.code === null
      ? ''
      : g.code.feasible
        ? `, stripes ${g.code.dataShards}+${g.code.parityShards}${g.code.repairSlack ? '' : ' (no repair slack)'}`
        : `, no feasible code: ${g.code.reason}`;
  return line(
    'Group',
    `${g.id.slice(0, 16)}, ${g.memberCount} member${g.memberCount === 1 ? '' : 's'}${g.member ? '' : ' (this node is NOT a member)'}` +
      (g.agreement === null ? '' : `, ratio ${g.agreement.ratio}, tolerance ${g.agreement.tolerance}`) +
      shape,
  );
}

/** The sentences: backup, size, upload, allowance, pledge, exposure, repair, requests. */
function wordLines(r: StatusReport): string[] {
  const out: string[] = [];
  const b = r.backup;
  out.push(line('Backed up', b.words));
  if (b.stripes > 0)
    out.push(
      line(
        'Backup size',
        b.sizeWords ??
          `${formatSize(b.backedUpBytes)} in ${b.stripes} stripe${b.stripes === 1 ? '' : 's'}, ${formatSize(b.storedWithRedundancyBytes)} with redundancy`,
      ),
    );
  if (r.upload !== undefined && (r.upload.paused || r.upload.capBytesPerSecond > 0))
    out.push(line('Upload', r.upload.words));
  if (r.capacity !== null) out.push(line('Allowance', r.capacity.words));
  out.push(
    line(
      'Pledge',
      `${formatSize(r.pledge.usedBytes)} of ${formatSize(r.pledge.pledgeBytes)} used (${percent(r.pledge.usedFraction)}) holding other members' shards` +
        ((r.pledge.formerMembersBytes ?? 0) > 0
          ? `; ${formatSize(r.pledge.formerMembersBytes!)} of it for former members (removed, kept so that they can still recover)`
          : ''),
    ),
  );
  out.push(line('Exposure', r.exposure.words));
  out.push(line('Repair', repairWords(r)));
  if (r.requests.length === 0) out.push(line('Requests', 'none waiting'));
  r.requests.forEach((q, i) => {
    out.push(
      line(
        i === 0 ? 'Requests' : '',
        `${q.name} (${q.candidate.slice(-8)}) waits ${formatAgo(q.atMs, r.generatedAtMs).replace(' ago', '')}: ` +
          (q.mine
            ? `pb-node approve ${q.name}  or  pb-node reject ${q.name}`
            : `${q.invitedByName} invited them and decides`),
      ),
    );
  });
  return out;
}

/** The members table, then each member's address to give `pb-node restore --peer`. */
function memberLines(r: StatusReport): string[] {
  if (r.members.length === 0) return [];
  const rows = [['Members', 'pledge', 'used', 'allowance', 'holds mine', 'last seen', 'reach']];
  for (const m of r.members) {
    rows.push([
      `${m.self ? '*' : ' '} ${m.name}`,
      formatSize(m.pledgeBytes),
      m.usedBytes === null ? '?' : `${formatSize(m.usedBytes)} ${percent(m.usedFraction ?? 0)}`,
      `${formatSize(m.allowanceBytes)}${m.limitedBy === 'group' ? ' (group)' : ''}`,
      m.self ? '-' : formatSize(m.holdsOfMineBytes),
      m.self
        ? 'this node'
        : m.lastSeenMs === null
          ? 'not since start'
          : formatAgo(m.lastSeenMs, r.generatedAtMs),
      m.reach ?? '',
    ]);
  }
  const out = ['', ...table(rows, new Set([1, 2, 3, 4]))];
  const reach = r.members
    .filter((m) => (m.addresses ?? []).length > 0)
    .map((m) => [`${m.self ? '*' : ' '} ${m.name}`, m.addresses![0]!]);
  if (reach.length > 0)
    out.push('', ...table([['Addresses', '(for pb-node restore --peer)'], ...reach], new Set()));
  return out;
}

export function renderStatusText(r: StatusReport, dashboardLink: string | null = r.dashboard.url): string {
  return [
    `${r.self.name} (${r.self.id})`,
    groupLine(r),
    '',
    ...wordLines(r),
    ...memberLines(r),
    '',
    line('Dashboard', dashboardLink ?? 'off (set `dashboard` in the config)'),
  ].join('\n');
}
