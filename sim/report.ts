/**
 * What the simulator prints (a table per member and for the group) and the self-contained HTML
 * report (d3 inlined, data inlined: it works offline, from a file:// URL).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CHART_SCRIPT } from './report-charts.ts';
import { MAX_AUTO_STRIPES } from './resolution.ts';
import type { SimMemberResult, SimResult } from './result.ts';
import { formatBytes } from './units.ts';

function table(headers: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)]
    .map((l) => l.trimEnd())
    .join('\n');
}

function hours(h: number | null): string {
  if (h === null) return 'never';
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${(h / 24).toFixed(1)} d`;
}

function byteHours(bh: number): string {
  return bh === 0 ? '0' : `${formatBytes(bh)}·h`;
}

function windowLine(cf: SimResult['group']['closedForm']): string {
  const w = cf.measuredWindow;
  if (w.shards === 0)
    return `none (no failure took a shard; modelled ${cf.modelledRepairWindowDays.toFixed(2)} d)`;
  return (
    `mean ${w.meanDays.toFixed(2)} d (detection ${w.detectionDays.toFixed(2)} d), p50 ${w.p50Days.toFixed(2)} d, ` +
    `p90 ${w.p90Days.toFixed(2)} d over ${w.shards} shards; modelled ${cf.modelledRepairWindowDays.toFixed(2)} d`
  );
}

function rate(x: number): string {
  return x === 0 ? '0' : x.toExponential(2);
}

export function formatTable(r: SimResult, withNotes = true): string {
  const rows = r.members.map((m) => [
    m.id + (m.removed ? ' (removed)' : m.joinedAtHours > 0 ? ' (joined)' : ''),
    formatBytes(m.pledgeBytes),
    formatBytes(m.allowanceBytes),
    m.limitedBy,
    formatBytes(m.boundBytes),
    formatBytes(m.backedUpBytes),
    hours(m.firstFullBackupHours),
    byteHours(m.exposedByteHours),
    formatBytes(m.repairBytesSent),
  ]);
  const members = table(
    ['member', 'pledge', 'allowance', 'limit', 'bound', 'backed up', 'first full', 'exposed', 'repair sent'],
    rows,
    [false, true, true, false, true, true, true, true, true],
  );
  const g = r.group;
  const c = r.config;
  const cf = g.closedForm;
  const lines = [
    `pb sim: ${r.members.length} members, ${c.days} days, seed ${c.seed}, ratio ${c.ratio}, tolerance ${c.tolerance}, ` +
      `code ${g.k}+${g.m}, shard ${formatBytes(c.shardBytes)}`,
    '',
    members,
    '',
    `allowance: what the agreement and today's members let each back up (limit: which binds);`,
    `bound: what the other members could hold for that owner alone; exposed: bytes with fewer than k+f`,
    `live shards, integrated over time.`,
    '',
    table(
      ['group', 'value'],
      [
        ['T* (k * x*, all pledges)', formatBytes(g.boundBytes)],
        ['backed up', formatBytes(g.backedUpBytes)],
        ['utilisation of T*', `${(g.utilisation * 100).toFixed(1)} %`],
        ['disk failures / joins / removals', `${g.failures} / ${g.joins} / ${g.removals}`],
        [
          'repair traffic',
          `${formatBytes(g.repairBytes)} in ${g.repairsCompleted} repairs (${g.repairTasks - g.repairsCompleted} aborted by churn)`,
        ],
        ['migration traffic', `${formatBytes(g.migrationBytes)} in ${g.migrationTasks} moves`],
        [
          'stripes lost',
          `${g.stripesLost} of ${g.storedStripes + g.stripesLost} (${formatBytes(g.bytesLost)})`,
        ],
        [
          'annual loss, observed',
          `${rate(g.annualLossObserved)} per stripe-year (${g.stripeYears.toFixed(0)} stripe-years)`,
        ],
        [
          'annual loss, closed form',
          `${rate(cf.annualLoss)} per stripe-year (afr ${cf.afr}, window ${cf.repairWindowDays.toFixed(2)} d, ${cf.windowSource})`,
        ],
        ['repair window, measured', windowLine(cf)],
        [
          'member loses any stripe',
          cf.memberAnnualLossChance === null
            ? 'n/a'
            : `${rate(cf.memberAnnualLossChance)} chance per member-year (closed form, ${cf.memberStripes} stripes per owner as pb writes them)`,
        ],
        ['events', String(g.events)],
      ],
      [false, false],
    ),
    '',
    'closed form: a stripe of k+m shards is lost when more than m of its holders fail within one repair',
    'window W (from a failure until the shard exists again: detection, then queueing and transfer; the',
    'rate is averaged over the windows measured in the run, W is the single window giving that rate):',
    ...cf.formula.split('; ').map((part) => `  ${part}`),
  ];
  const notes = withNotes ? surprises(r) : [];
  if (notes.length > 0) lines.push('', 'notes:', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/** A sentence for each figure a reader would stop at. */
export function surprises(r: SimResult): string[] {
  const notes: string[] = [];
  const g = r.group;
  for (const m of r.members) {
    if (m.removed) continue;
    const unusable = m.pledgeBytes - m.pledgeUsedBytes;
    if (unusable > m.pledgeBytes / 2 && unusable > 1e9) {
      notes.push(
        `${m.id} pledges ${formatBytes(m.pledgeBytes)} but only ${formatBytes(m.pledgeUsedBytes)} of it is used: ` +
          `${formatBytes(unusable)} cannot be used under this agreement, because every stripe needs ${g.k + g.m} ` +
          `holders among the other members and the smaller pledges bound what anyone backs up. More members, ` +
          `or larger pledges on the small ones, would change that; a higher ratio would not.`,
      );
    }
  }
  const above = r.members.filter(
    (m) => !m.removed && m.backedUpBytes > m.allowanceBytes && m.allowanceBytes > 0,
  );
  if (above.length > 0) {
    const each = above.map(
      (m) => `${m.id} ${formatBytes(m.backedUpBytes)} of ${formatBytes(m.allowanceBytes)}`,
    );
    notes.push(
      `backed up above the allowance: ${each.join(', ')}. ` +
        `Data goes in whole stripes (${g.k} shard${g.k === 1 ? '' : 's'} of ${formatBytes(r.config.shardBytes)}) and the day's ` +
        `change is stored before the oldest stripes are deleted.`,
    );
  }
  const waiting = waitingForRoom(r);
  if (waiting !== null) notes.push(waiting);
  const res = r.config.resolution;
  if (res?.auto && res.stripes < MAX_AUTO_STRIPES) {
    notes.push(
      `the run modelled about ${res.stripes.toLocaleString('en-US')} stripes, not ${MAX_AUTO_STRIPES.toLocaleString('en-US')}: ` +
        `about ${Math.round(res.expectedFailures)} disk failures were expected, and each costs a pass of repairs ` +
        `over the stripes its member held. Losses are counted per modelled stripe; --stripes ${MAX_AUTO_STRIPES} ` +
        `models more (docs/sim.md, Resolution).`,
    );
  }
  if (g.repairBytes > g.backedUpBytes && g.backedUpBytes > 0) {
    notes.push(
      `repair moved ${formatBytes(g.repairBytes)}, more than the ${formatBytes(g.backedUpBytes)} backed up: ` +
        `${g.failures} disk failures each emptied a member, and rebuilding a shard reads ${g.k} shards.`,
    );
  }
  return notes;
}

/** The members that never finished a first backup because the holders their stripes need are full. */
function waitingForRoom(r: SimResult): string | null {
  const present = r.members.filter((m) => !m.removed);
  const stuck = present.filter((m) => m.firstFullBackupHours === null && m.waitingForRoom);
  if (stuck.length === 0) return null;
  const full = present.filter((m) => m.pledgeBytes - m.pledgeUsedBytes < 2 * r.config.shardBytes);
  const names = (ms: readonly SimMemberResult[]) => ms.map((m) => m.id).join(', ');
  const one = stuck.length === 1;
  const [they, their] = one ? ['it', 'its'] : ['they', 'their'];
  const shares = stuck.map((m) => m.backedUpBytes / Math.max(1, m.dataBytes));
  const pct = (x: number) => `${Math.floor(x * 100)} %`;
  const [lo, hi] = [Math.min(...shares), Math.max(...shares)];
  const where =
    full.length > 0 ? ` on ${names(full)}, whose pledge${full.length === 1 ? ' is' : 's are'} full` : '';
  const why = stuck.every((m) => m.dataBytes > m.allowanceBytes)
    ? `: ${their} data is more than ${their} allowance${one ? '' : 's'}.`
    : `, short of ${their} allowance${one ? '' : 's'}: each owner's stripes go where its own plan sends them, ` +
      'by chance, and the pledges they lean on filled first.';
  return (
    `${names(stuck)} did not finish a first full backup in the run: ${they} stopped at ` +
    `${lo === hi ? pct(lo) : `${pct(lo)} to ${pct(hi)}`} of ${their} data, waiting for room${where}${why}`
  );
}

/** d3's exports map hides dist/d3.min.js: resolve the package, take the file beside it. */
export function d3Source(): string {
  const entry = createRequire(import.meta.url).resolve('d3');
  return readFileSync(join(dirname(entry), 'd3.min.js'), 'utf8');
}

const scriptSafe = (text: string) => text.replace(/<\/(script)/gi, '<\\/$1');

export function renderHtml(r: SimResult): string {
  const data = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pb sim: ${r.members.length} members, seed ${escapeHtml(r.config.seed)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
svg { display: block; } .axis text { font-size: 11px; } .legend { font-size: 12px; }
.empty-note { font-size: 14px; fill: #555; }
</style>
</head>
<body>
<h1>pb sim: ${r.members.length} members, ${r.config.days} days, code ${r.group.k}+${r.group.m}</h1>
<pre>${escapeHtml(formatTable(r, false))}</pre>
${notesHtml(r)}
<h2>Pledge, allowance and use per member</h2>
<svg id="chart-members" width="960" height="360"></svg>
<h2>Exposure over time (bytes with fewer than k+f live shards, per owner)</h2>
<svg id="chart-exposure" width="960" height="320"></svg>
<h2>Repair and migration traffic over time</h2>
<svg id="chart-repair" width="960" height="320"></svg>
<script>${scriptSafe(d3Source())}</script>
<script id="sim-data" type="application/json">${data}</script>
<script>
${scriptSafe(CHART_SCRIPT)}
</script>
</body>
</html>
`;
}

/** The surprising figures again, as sentences above the charts. */
function notesHtml(r: SimResult): string {
  const notes = surprises(r);
  if (notes.length === 0) return '';
  return `<h2>Worth knowing</h2>\n<ul id="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}
