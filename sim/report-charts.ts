/**
 * The HTML report's chart script (runs in the browser, d3 inlined beside it): pledge, allowance
 * and use per member; exposure over time; repair and migration traffic over time. Conventions:
 * sizes as the tables print them (decimal, three digits: engine/units.ts formatSize), times in
 * days on round ticks (1, 2, 5, 10, 15, 30, 60, 90, 180 or 365 d apart), disk failures, joins and
 * removals marked on both time axes, a colour per member that stays distinct past ten members
 * (evenly spaced hues, dashed every other line), and a sentence instead of a chart when a series
 * is all zero ("no exposure"), not a chart on a 0-1 B axis.
 */
export const CHART_SCRIPT = `
(function () {
  const r = JSON.parse(document.getElementById('sim-data').textContent);
  const SIZES = [[1e15, 'PB'], [1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']];
  const fmt = (b) => {
    for (const [s, n] of SIZES) {
      if (Math.abs(b) < s) continue;
      const v = b / s, a = Math.abs(v);
      return (a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + n;
    }
    return (Number.isInteger(b) ? b : b.toFixed(1)) + ' B';
  };
  const when = (h) => (h < 48 ? h.toFixed(1) + ' h' : (h / 24).toFixed(1) + ' d');
  const margin = { top: 24, right: 150, bottom: 40, left: 70 };
  const KEY_COLOURS = { pledgeBytes: '#4e79a7', allowanceBytes: '#f28e2b', backedUpBytes: '#59a14f', pledgeUsedBytes: '#b07aa1', repair: '#e15759', migration: '#76b7b2' };
  const MARK = { failure: { colour: '#d62728', dash: '', label: 'disk failure' }, join: { colour: '#2ca02c', dash: '6,3', label: 'join' }, removal: { colour: '#7f7f7f', dash: '2,3', label: 'removal' } };
  const n = r.members.length;
  const memberColour = (i) => (n <= 10 ? d3.schemeTableau10[i] : d3.interpolateSinebow(i / n));
  const memberDash = (i) => (n > 10 && i % 2 === 1 ? '5,2' : '');
  let drawn = 0;

  function frame(id) {
    const svg = d3.select('#' + id);
    const w = +svg.attr('width') - margin.left - margin.right;
    const h = +svg.attr('height') - margin.top - margin.bottom;
    const g = svg.append('g').attr('transform', 'translate(' + margin.left + ',' + margin.top + ')');
    return { svg, g, w, h };
  }

  /** A sentence in place of a chart whose series is all zero. */
  function empty(id, text) {
    const svg = d3.select('#' + id).attr('height', 40).attr('class', 'empty');
    svg.append('text').attr('class', 'empty-note').attr('x', margin.left).attr('y', 24).text(text);
    drawn++;
  }

  /** Time axis in days on round ticks. */
  function timeAxis(g, x, h, maxHours) {
    const days = maxHours / 24;
    const steps = [1, 2, 5, 10, 15, 30, 60, 90, 180, 365, 730, 1825];
    const step = steps.find((s) => days / s <= 10) || 3650;
    const ticks = d3.range(0, days + 1e-9, step).map((d) => d * 24);
    g.append('g').attr('class', 'axis time').attr('transform', 'translate(0,' + h + ')')
      .call(d3.axisBottom(x).tickValues(ticks).tickFormat((v) => Math.round(v / 24) + ' d'));
  }

  /** A vertical line per failure, join and removal, with a legend. */
  function markers(g, x, w, h, legendTop) {
    const ev = r.series.events.filter((e) => e.hours <= x.domain()[1]);
    g.selectAll('line.marker').data(ev).join('line').attr('class', (e) => 'marker marker-' + e.kind)
      .attr('x1', (e) => x(e.hours)).attr('x2', (e) => x(e.hours)).attr('y1', 0).attr('y2', h)
      .attr('stroke', (e) => MARK[e.kind].colour).attr('stroke-dasharray', (e) => MARK[e.kind].dash).attr('stroke-opacity', 0.7)
      .append('title').text((e) => MARK[e.kind].label + ': ' + e.member + ' at ' + when(e.hours));
    const kinds = Object.keys(MARK).filter((k) => ev.some((e) => e.kind === k));
    const lg = g.append('g').attr('class', 'legend').attr('transform', 'translate(' + (w + 10) + ',' + legendTop + ')');
    kinds.forEach((k, i) => {
      lg.append('line').attr('x1', 0).attr('x2', 12).attr('y1', i * 18 + 6).attr('y2', i * 18 + 6)
        .attr('stroke', MARK[k].colour).attr('stroke-dasharray', MARK[k].dash).attr('stroke-width', 2);
      lg.append('text').attr('x', 16).attr('y', i * 18 + 10).text(MARK[k].label);
    });
  }

  // 1. Pledge, allowance, bound and backed up per member (log scale: pledges differ 1000x).
  {
    const { g, w, h } = frame('chart-members');
    const keys = [['pledgeBytes', 'pledge'], ['allowanceBytes', 'allowance'], ['backedUpBytes', 'backed up'], ['pledgeUsedBytes', 'pledge used']];
    const ids = r.members.map((m) => m.id);
    const x0 = d3.scaleBand().domain(ids).range([0, w]).padding(0.2);
    const x1 = d3.scaleBand().domain(keys.map((k) => k[0])).range([0, x0.bandwidth()]).padding(0.05);
    const vals = r.members.flatMap((m) => keys.map((k) => m[k[0]])).filter((v) => v > 0);
    const y = d3.scaleLog().domain([Math.max(1, d3.min(vals) / 2), d3.max(vals) * 1.5]).range([h, 0]).clamp(true);
    g.append('g').attr('class', 'axis').attr('transform', 'translate(0,' + h + ')').call(d3.axisBottom(x0));
    g.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(6, (d) => fmt(d)));
    g.selectAll('g.member').data(r.members).join('g').attr('class', 'member')
      .attr('transform', (m) => 'translate(' + x0(m.id) + ',0)')
      .selectAll('rect').data((m) => keys.map((k) => ({ key: k[0], v: m[k[0]] })))
      .join('rect').attr('x', (d) => x1(d.key)).attr('width', x1.bandwidth())
      .attr('y', (d) => y(Math.max(d.v, y.domain()[0]))).attr('height', (d) => h - y(Math.max(d.v, y.domain()[0])))
      .attr('fill', (d) => KEY_COLOURS[d.key]).append('title').text((d) => d.key + ': ' + fmt(d.v));
    const lg = g.append('g').attr('class', 'legend').attr('transform', 'translate(' + (w + 10) + ',0)');
    keys.forEach((k, i) => {
      lg.append('rect').attr('y', i * 18).attr('width', 12).attr('height', 12).attr('fill', KEY_COLOURS[k[0]]);
      lg.append('text').attr('x', 16).attr('y', i * 18 + 10).text(k[1]);
    });
    drawn++;
  }

  // 2. Exposure over time, one line per owner.
  const maxExposed = d3.max(r.series.exposedBytes.flat()) || 0;
  if (maxExposed === 0) {
    empty('chart-exposure', 'No exposure: every stripe kept at least k+f live shards for the whole run.');
  } else {
    // Room for the legend: up to twelve members, '+N more', a gap, three marker kinds.
    const legendRows = Math.min(n, 12) + (n > 12 ? 1 : 0);
    const svgExposure = d3.select('#chart-exposure');
    svgExposure.attr('height', Math.max(+svgExposure.attr('height'), (legendRows + 4) * 18 + margin.top + margin.bottom));
    const { g, w, h } = frame('chart-exposure');
    const t = r.series.hours;
    const x = d3.scaleLinear().domain([0, d3.max(t) || 1]).range([0, w]);
    const y = d3.scaleLinear().domain([0, maxExposed]).nice().range([h, 0]);
    timeAxis(g, x, h, d3.max(t) || 1);
    g.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(5).tickFormat(fmt));
    markers(g, x, w, h, legendRows * 18 + 14);
    const line = d3.line().x((d, i) => x(t[i])).y((d) => y(d)).curve(d3.curveStepAfter);
    r.series.exposedBytes.forEach((s, i) => {
      g.append('path').datum(s).attr('class', 'exposure').attr('fill', 'none').attr('stroke', memberColour(i))
        .attr('stroke-dasharray', memberDash(i)).attr('stroke-width', 1.5).attr('d', line)
        .append('title').text(r.members[i].id);
    });
    const lg = g.append('g').attr('class', 'legend').attr('transform', 'translate(' + (w + 10) + ',0)');
    // Past twelve members the legend lists the first twelve; every line has its id as a tooltip.
    r.members.slice(0, 12).forEach((m, i) => {
      lg.append('line').attr('x1', 0).attr('x2', 12).attr('y1', i * 18 + 6).attr('y2', i * 18 + 6)
        .attr('stroke', memberColour(i)).attr('stroke-dasharray', memberDash(i)).attr('stroke-width', 3);
      lg.append('text').attr('x', 16).attr('y', i * 18 + 10).text(m.id + (m.removed ? ' (removed)' : ''));
    });
    if (n > 12) lg.append('text').attr('x', 0).attr('y', 12 * 18 + 10).text('+' + (n - 12) + ' more');
    drawn++;
  }

  // 3. Repair and migration traffic per sample interval.
  const total = r.series.hours.map((_, i) => r.series.repairBytes[i] + r.series.migrationBytes[i]);
  if ((d3.max(total) || 0) === 0) {
    empty('chart-repair', 'No repair or migration traffic: no shard had to be rebuilt or moved.');
  } else {
    const { g, w, h } = frame('chart-repair');
    const t = r.series.hours;
    const x = d3.scaleLinear().domain([0, d3.max(t) || 1]).range([0, w]);
    const y = d3.scaleLinear().domain([0, d3.max(total)]).nice().range([h, 0]);
    timeAxis(g, x, h, d3.max(t) || 1);
    g.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(5).tickFormat(fmt));
    const area = (lo, hi) => d3.area().x((d, i) => x(t[i])).y0((d, i) => y(lo[i])).y1((d, i) => y(hi[i])).curve(d3.curveStepAfter);
    const zero = t.map(() => 0);
    g.append('path').datum(t).attr('class', 'traffic').attr('fill', KEY_COLOURS.repair).attr('d', area(zero, r.series.repairBytes));
    g.append('path').datum(t).attr('class', 'traffic').attr('fill', KEY_COLOURS.migration).attr('d', area(r.series.repairBytes, total));
    markers(g, x, w, h, 46);
    const lg = g.append('g').attr('class', 'legend').attr('transform', 'translate(' + (w + 10) + ',0)');
    [['repair', 'repair'], ['migration', 'migration']].forEach((k, i) => {
      lg.append('rect').attr('y', i * 18).attr('width', 12).attr('height', 12).attr('fill', KEY_COLOURS[k[0]]);
      lg.append('text').attr('x', 16).attr('y', i * 18 + 10).text(k[1]);
    });
    drawn++;
  }
  document.body.dataset.chartsDrawn = String(drawn);
})();
`;
