/**
 * The dashboard page: one self-contained HTML document (d3 inlined from node_modules, no CDN,
 * no other request than the daemon's own JSON). It polls `/api/status` (the StatusReport) and
 * `/api/history` (the sample ring) with the token from its own address, draws four d3 charts and
 * lists the members and the pending join requests with approve and reject buttons, which call
 * `/api/approve` and `/api/reject` (the daemon's `approve`/`reject`, the same code as the CLI).
 * Names come from other members: they are only ever set as text, never as HTML.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let d3Cache: string | null = null;

/** d3's exports map hides dist/d3.min.js: resolve the package, take the file beside it. */
function d3Source(): string {
  if (d3Cache === null) {
    const entry = createRequire(import.meta.url).resolve('d3');
    d3Cache = readFileSync(join(dirname(entry), 'd3.min.js'), 'utf8');
  }
  return d3Cache;
}

const scriptSafe = (text: string): string => text.replace(/<\/(script)/gi, '<\\/$1');

/** How often the page asks for a new report. */
export const REFRESH_MS = 5_000;

export function renderDashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>pb-node dashboard</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; } h2 { font-size: 1.05em; margin-top: 1.8em; }
.sub { color: #666; } dl { display: grid; grid-template-columns: 9em 1fr; gap: 0.3em 1em; }
dt { font-weight: 600; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid #eee; } td.num { text-align: right; }
svg { display: block; } .axis text { font-size: 11px; } .legend { font-size: 12px; }
#error { color: #b00; } .alert { color: #b00; font-weight: 600; }
button { margin-left: 0.6em; }
</style>
</head>
<body data-charts-drawn="0" data-refreshes="0">
<h1 id="title">pb-node</h1>
<div class="sub" id="subtitle"></div>
<p id="loading">loading the daemon's report…</p>
<p id="error"></p>
<dl id="words">
<dt>Backed up</dt><dd id="w-backup"></dd>
<dt>Allowance</dt><dd id="w-capacity"></dd>
<dt>Pledge</dt><dd id="w-pledge"></dd>
<dt>Exposure</dt><dd id="w-exposure"></dd>
<dt>Repair</dt><dd id="w-repair"></dd>
<dt>Uploads</dt><dd><span id="w-upload"></span><button id="upload-toggle" hidden></button></dd>
</dl>
<h2>Join requests</h2>
<ul id="requests"></ul>
<h2>Members</h2>
<table id="members"><thead><tr><th>name</th><th>pledge</th><th>used</th><th>allowance</th><th>holds mine</th><th>last seen</th><th>reach</th></tr></thead><tbody></tbody></table>
<h2>Pledge, use and allowance per member</h2>
<svg id="chart-members" width="960" height="320"></svg>
<h2>Coverage of this member's backup</h2>
<svg id="chart-coverage" width="960" height="260"></svg>
<h2>Exposure over time</h2>
<svg id="chart-exposure" width="960" height="260"></svg>
<h2>Repair traffic</h2>
<svg id="chart-repair" width="960" height="240"></svg>
<script>${scriptSafe(d3Source())}</script>
<script>
${scriptSafe(PAGE_SCRIPT)}
</script>
</body>
</html>
`;
}

const PAGE_SCRIPT = `
'use strict';
const TOKEN = new URLSearchParams(location.search).get('token') || '';
const REFRESH_MS = ${REFRESH_MS};
const color = d3.scaleOrdinal(['pledge', 'used', 'allowance'], ['#4e79a7', '#f28e2b', '#59a14f']);
const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function size(b) {
  if (b === null || b === undefined) return '?';
  let v = b, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[i];
}
function ago(ms, now) {
  if (ms === null) return 'not since start';
  const s = Math.round((now - ms) / 1000);
  return s < 2 ? 'just now' : s < 90 ? s + ' s ago' : s < 5400 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
async function api(path, body) {
  const init = { headers: { Authorization: 'Bearer ' + TOKEN }, cache: 'no-store' };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.status + ' ' + res.statusText);
  return data;
}
// 24-hour clock times (the browser's time zone), a date at midnight: never 12-hour "04:08" for 16:08.
const hourMinute = d3.timeFormat('%H:%M');
const monthDay = d3.timeFormat('%b %d');
const hourMinuteSecond = d3.timeFormat('%H:%M:%S');
function clockTime(d) {
  return d.getHours() === 0 && d.getMinutes() === 0 ? monthDay(d) : hourMinute(d);
}
// A time axis: seconds on a span under 10 minutes, each label once.
function timeAxis(x, count) {
  const [from, to] = x.domain();
  const format = to - from < 10 * 60000 ? hourMinuteSecond : clockTime;
  const seen = new Set();
  const values = x.ticks(count).filter((d) => {
    const label = format(d);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });
  return d3.axisBottom(x).tickValues(values).tickFormat(format);
}
// Size ticks: whole bytes only, each label once ("0 B 0 B 0 B 1 B" on a tiny domain is noise).
function sizeTicks(scale, count) {
  const seen = new Set();
  return scale.ticks(count).filter((v) => {
    const label = size(v);
    if (!Number.isInteger(v) || seen.has(label)) return false;
    seen.add(label);
    return true;
  });
}
function frame(id, margin) {
  const svg = d3.select('#' + id);
  svg.selectAll('*').remove();
  const w = +svg.attr('width') - margin.left - margin.right;
  const h = +svg.attr('height') - margin.top - margin.bottom;
  const g = svg.append('g').attr('transform', 'translate(' + margin.left + ',' + margin.top + ')');
  return { svg, g, w, h };
}
function legend(g, keys) {
  const l = g.append('g').attr('class', 'legend').attr('transform', 'translate(0,-14)');
  let x = 0;
  for (const [k, c] of keys) {
    l.append('rect').attr('x', x).attr('width', 10).attr('height', 10).attr('fill', c);
    l.append('text').attr('x', x + 14).attr('y', 9).text(k);
    x += 24 + 7 * k.length;
  }
}
function drawMembers(r) {
  const { g, w, h } = frame('chart-members', { top: 24, right: 10, bottom: 30, left: 70 });
  const keys = ['pledge', 'used', 'allowance'];
  const rows = r.members.map((m) => ({ name: m.name, id: m.id, values: [m.pledgeBytes, m.usedBytes || 0, m.allowanceBytes] }));
  const x0 = d3.scaleBand().domain(rows.map((d) => d.id)).range([0, w]).padding(0.2);
  const x1 = d3.scaleBand().domain(keys).range([0, x0.bandwidth()]).padding(0.05);
  // Log scale (pledges can differ 1000x); zero sits on the floor.
  const all = rows.flatMap((d) => d.values);
  const max = d3.max(all) || 1;
  const floor = Math.max(1, (d3.min(all.filter((v) => v > 0)) || max) / 4);
  const y = d3.scaleLog().domain([floor, max * 1.5]).range([h, 0]).clamp(true);
  const names = new Map(rows.map((d) => [d.id, d.name]));
  g.append('g').attr('class', 'axis').attr('transform', 'translate(0,' + h + ')').call(d3.axisBottom(x0).tickFormat((id) => names.get(id)));
  const ticks = [];
  for (let e = Math.ceil(Math.log2(floor)); e <= Math.log2(max * 1.5) && ticks.length < 64; e++) ticks.push(2 ** e);
  const step = Math.ceil(ticks.length / 7);
  g.append('g').attr('class', 'axis').call(d3.axisLeft(y).tickValues(ticks.filter((_, i) => i % step === 0)).tickFormat(size));
  const groups = g.selectAll('g.member').data(rows).join('g').attr('class', 'member').attr('transform', (d) => 'translate(' + x0(d.id) + ',0)');
  groups.selectAll('rect').data((d) => d.values.map((v, i) => ({ key: keys[i], v }))).join('rect')
    .attr('x', (d) => x1(d.key)).attr('width', x1.bandwidth())
    .attr('y', (d) => y(Math.max(floor, d.v))).attr('height', (d) => h - y(Math.max(floor, d.v))).attr('fill', (d) => color(d.key))
    .append('title').text((d) => d.key + ': ' + size(d.v));
  legend(g, keys.map((k) => [k, color(k)]));
}
function drawCoverage(r) {
  const { g, w, h } = frame('chart-coverage', { top: 24, right: 10, bottom: 30, left: 140 });
  const e = r.exposure;
  const segments = [
    ['protected', Math.max(0, e.storedBytes - e.exposedBytes), '#59a14f'],
    ['exposed', Math.max(0, e.exposedBytes - e.unrecoverableBytes), '#f28e2b'],
    ['unrecoverable', e.unrecoverableBytes, '#e15759'],
    ['not backed up yet', r.backup.pendingBytes || 0, '#bab0ac'],
  ];
  const total = d3.sum(segments, (s) => s[1]) || 1;
  const x = d3.scaleLinear().domain([0, total]).range([0, w]);
  const bar = g.append('g').attr('class', 'coverage');
  let at = 0;
  for (const [label, v, c] of segments) {
    bar.append('rect').attr('x', x(at)).attr('y', 0).attr('width', x(v)).attr('height', 28).attr('fill', c)
      .append('title').text(label + ': ' + size(v));
    at += v;
  }
  g.append('text').attr('x', -8).attr('y', 18).attr('text-anchor', 'end').text('this backup');
  legend(g, segments.map((s) => [s[0], s[2]]));
  const holders = r.members.filter((m) => !m.self);
  const y = d3.scaleBand().domain(holders.map((m) => m.id)).range([48, h]).padding(0.2);
  const hx = d3.scaleLinear().domain([0, Math.max(1024, d3.max(holders, (m) => m.holdsOfMineBytes) || 0)]).range([0, w]);
  const names = new Map(holders.map((m) => [m.id, m.name]));
  g.append('g').attr('class', 'axis').call(d3.axisLeft(y).tickFormat((id) => names.get(id) + ' holds'));
  g.append('g').attr('class', 'axis').attr('transform', 'translate(0,' + h + ')').call(d3.axisBottom(hx).tickValues(sizeTicks(hx, 6)).tickFormat(size));
  g.append('g').attr('class', 'holders').selectAll('rect').data(holders).join('rect')
    .attr('class', 'holder').attr('x', 0).attr('y', (m) => y(m.id)).attr('height', y.bandwidth())
    .attr('width', (m) => hx(m.holdsOfMineBytes)).attr('fill', (m) => (m.availability === 'online' ? '#4e79a7' : '#e15759'))
    .append('title').text((m) => m.name + ' holds ' + size(m.holdsOfMineBytes) + ' of this backup (' + m.availability + ')');
}
function timeChart(id, points, key, cls, fill) {
  const { g, w, h } = frame(id, { top: 16, right: 10, bottom: 30, left: 70 });
  const x = d3.scaleTime().domain(d3.extent(points, (p) => p.atMs).map((t) => new Date(t))).range([0, w]);
  if (points.length < 2) x.domain([new Date(points[0].atMs - 60000), new Date(points[0].atMs)]);
  const y = d3.scaleLinear().domain([0, Math.max(1024, d3.max(points, (p) => p[key]) || 0)]).nice().range([h, 0]);
  g.append('g').attr('class', 'axis').attr('transform', 'translate(0,' + h + ')').call(timeAxis(x, 6));
  g.append('g').attr('class', 'axis').call(d3.axisLeft(y).tickValues(sizeTicks(y, 5)).tickFormat(size));
  const area = d3.area().x((p) => x(new Date(p.atMs))).y0(h).y1((p) => y(p[key])).curve(d3.curveStepAfter);
  g.append('path').datum(points).attr('class', cls).attr('fill', fill).attr('fill-opacity', 0.35).attr('stroke', fill).attr('d', area);
}
function drawTime(r, history) {
  const now = { atMs: r.generatedAtMs, exposedBytes: r.exposure.exposedBytes, repairBytes: 0 };
  const points = history.samples.concat([now]);
  timeChart('chart-exposure', points, 'exposedBytes', 'exposure', '#f28e2b');
  timeChart('chart-repair', history.samples.length > 0 ? history.samples : [now], 'repairBytes', 'traffic', '#4e79a7');
}
function fillWords(r) {
  d3.select('#title').text('pb-node: ' + r.self.name);
  const g = r.group;
  d3.select('#subtitle').text(g.id === null ? 'no group yet' :
    'group ' + g.id.slice(0, 16) + ', ' + g.memberCount + ' members' +
    (g.agreement ? ', ratio ' + g.agreement.ratio + ', tolerance ' + g.agreement.tolerance : '') +
    (g.code && g.code.feasible ? ', stripes ' + g.code.dataShards + '+' + g.code.parityShards : ''));
  // A member with no directories of its own backs nothing up: that is not an error.
  const backupAlert = r.backup.refused !== null || (r.backup.directories.length > 0 && !r.backup.upToDate);
  d3.select('#w-backup').text(r.backup.words).classed('alert', backupAlert);
  d3.select('#w-capacity').text(r.capacity ? r.capacity.words : 'not a member of a group');
  d3.select('#w-pledge').text(size(r.pledge.usedBytes) + ' of ' + size(r.pledge.pledgeBytes) + ' used holding other members\\' shards');
  d3.select('#w-exposure').text(r.exposure.words).classed('alert', r.exposure.exposedBytes > 0);
  const rp = r.repair;
  d3.select('#w-repair').text(rp.source === 'none' ? 'no repair worker reports yet' :
    ((rp.running > 0 || rp.queuedTasks > 0) ? rp.running + ' tasks running, ' + rp.queuedTasks + ' queued; ' : 'idle; ') +
    rp.repairsDone + ' repairs and ' + rp.migrationsDone + ' migrations done (' + size(rp.movedBytes) + ' moved)' +
    (rp.stripesNeedingRepair ? '; ' + rp.stripesNeedingRepair + ' stripes in the group need repair' : ''));
}
// Pause or resume uploads (backups and repairs): the daemon's pause/resume, as the CLI's.
function fillUpload(r) {
  const button = d3.select('#upload-toggle');
  if (!r.upload) { d3.select('#w-upload').text('no upload gate reports'); button.attr('hidden', true); return; }
  d3.select('#w-upload').text(r.upload.words).classed('alert', r.upload.paused);
  const verb = r.upload.paused ? 'resume' : 'pause';
  button.attr('hidden', null).attr('data-verb', verb).attr('disabled', null).text(verb === 'pause' ? 'pause uploads' : 'resume uploads');
  button.on('click', async function () {
    button.attr('disabled', true);
    try {
      await api('/api/' + verb, {});
      await refresh();
    } catch (err) {
      d3.select('#error').text(verb + ' failed: ' + err.message);
      button.attr('disabled', null);
    }
  });
}
function fillMembers(r) {
  const rows = d3.select('#members tbody').selectAll('tr').data(r.members, (m) => m.id).join('tr').attr('class', 'member').attr('data-id', (m) => m.id);
  rows.selectAll('td').data((m) => [
    [(m.self ? '* ' : '') + m.name, false],
    [size(m.pledgeBytes), true],
    [m.usedBytes === null ? '?' : size(m.usedBytes), true],
    [size(m.allowanceBytes) + (m.limitedBy === 'group' ? ' (group)' : ''), true],
    [m.self ? '-' : size(m.holdsOfMineBytes), true],
    [m.self ? 'this node' : ago(m.lastSeenMs, r.generatedAtMs), false],
    [m.reach || '', false],
  ]).join('td').classed('num', (d) => d[1]).text((d) => d[0]);
}
function fillRequests(r) {
  const list = d3.select('#requests');
  list.selectAll('*').remove();
  if (r.requests.length === 0) { list.append('li').attr('class', 'none').text('none waiting'); return; }
  for (const q of r.requests) {
    const li = list.append('li').attr('class', 'request').attr('data-candidate', q.candidate);
    li.append('span').text(q.name + ' (' + q.candidate.slice(-8) + ')');
    if (!q.mine) { li.append('span').text(': ' + q.invitedByName + ' invited them and decides'); continue; }
    for (const verb of ['approve', 'reject']) {
      li.append('button').attr('class', verb).text(verb).on('click', async function () {
        li.selectAll('button').attr('disabled', true);
        try {
          await api('/api/' + verb, { who: q.candidate });
          await refresh();
        } catch (err) {
          d3.select('#error').text(verb + ' failed: ' + err.message);
          li.selectAll('button').attr('disabled', null);
        }
      });
    }
  }
}
let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const [r, history] = await Promise.all([api('/api/status'), api('/api/history')]);
      fillWords(r);
      fillMembers(r);
      fillUpload(r);
      fillRequests(r);
      drawMembers(r);
      drawCoverage(r);
      drawTime(r, history);
      d3.select('#error').text('');
      d3.select('#loading').remove();
      document.body.dataset.chartsDrawn = '4';
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes) + 1);
    } catch (err) {
      d3.select('#error').text('cannot reach the daemon: ' + err.message);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}
refresh();
setInterval(refresh, REFRESH_MS);
`;
