/**
 * Opens the simulator's HTML report in headless Chromium (Debian's `chromium`, which `.ci/run`
 * installs) and checks that the three charts drew and that the console stayed clean: event
 * markers on the time axes, round time ticks, distinct colours past ten members, a sentence
 * instead of an empty chart.
 * Outside CI a machine without /usr/bin/chromium skips this file; in CI (CI=true) it fails.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig, type SimConfig } from '../../sim/config.ts';
import { renderHtml } from '../../sim/report.ts';
import type { SimResult } from '../../sim/result.ts';
import { runSimulation } from '../../sim/simulation.ts';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';

/** What the page shows, read in the page (a string: the test's TypeScript has no DOM types). */
const PAGE_FACTS = `({
  bars: document.querySelectorAll('#chart-members g.member rect').length,
  exposure: document.querySelectorAll('#chart-exposure path.exposure').length,
  exposureStyles: [...document.querySelectorAll('#chart-exposure path.exposure')].map((p) => p.getAttribute('stroke') + '|' + (p.getAttribute('stroke-dasharray') ?? '')),
  traffic: document.querySelectorAll('#chart-repair path.traffic').length,
  trafficPath: document.querySelector('#chart-repair path.traffic')?.getAttribute('d') ?? '',
  ticks: document.querySelectorAll('.axis .tick').length,
  timeTicks: [...document.querySelectorAll('#chart-repair .axis.time .tick text')].map((t) => t.textContent),
  markers: {
    exposure: [...document.querySelectorAll('#chart-exposure line.marker')].map((l) => l.getAttribute('class') + '|' + l.textContent),
    repair: [...document.querySelectorAll('#chart-repair line.marker')].map((l) => l.getAttribute('class') + '|' + l.textContent),
  },
  empty: [...document.querySelectorAll('.empty-note')].map((t) => t.closest('svg').id + ': ' + t.textContent),
  notes: [...document.querySelectorAll('#notes li')].map((li) => li.textContent),
})`;

interface PageFacts {
  bars: number;
  exposure: number;
  exposureStyles: string[];
  traffic: number;
  trafficPath: string;
  ticks: number;
  timeTicks: string[];
  markers: { exposure: string[]; repair: string[] };
  empty: string[];
  notes: string[];
}

/** Renders the report, opens it in Chromium, waits for the charts; returns what the page shows. */
async function openReport(result: SimResult): Promise<PageFacts> {
  const dir = mkdtempSync(join(tmpdir(), 'pb-report-'));
  const file = join(dir, 'sim.html');
  writeFileSync(file, renderHtml(result));
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const problems: string[] = [];
  const requests: string[] = [];
  try {
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) requests.push(req.url());
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-charts-drawn="3"]', { timeout: 20_000 });
    const facts = (await page.evaluate(PAGE_FACTS)) as PageFacts;
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    return facts;
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Time ticks read "<n> d", evenly spaced on a round step. */
function expectRoundTimeTicks(ticks: string[]): void {
  expect(ticks.length).toBeGreaterThanOrEqual(3);
  const days = ticks.map((t) => {
    expect(t).toMatch(/^\d+ d$/);
    return Number.parseInt(t, 10);
  });
  const step = days[1]! - days[0]!;
  expect([1, 2, 5, 10, 15, 30, 60, 90, 180, 365, 730, 1825]).toContain(step);
  days.forEach((d, i) => {
    expect(d).toBe(i * step);
  });
}

function run(over: Partial<SimConfig>): SimResult {
  return runSimulation(defaultConfig({ days: 60, seed: 'browser', shardBytes: 32 * 2 ** 20, ...over }));
}

describe('simulator report in a browser', () => {
  it('has chromium in CI', () => {
    if (inCi) expect(available, `${CHROMIUM} is missing: .ci/run installs it with apt-get`).toBe(true);
  });

  it.runIf(available || inCi)('draws the charts with markers for failures and round time ticks', async () => {
    const result = run({ pledgesBytes: [10e12, 1.78e12, 316e9, 56e9, 10e9], afr: 3 });
    expect(result.group.failures).toBeGreaterThan(0);
    const facts = await openReport(result);
    expect(facts.bars).toBe(result.members.length * 4);
    expect(facts.exposure).toBe(result.members.length);
    expect(facts.traffic).toBe(2);
    expect(facts.trafficPath.length).toBeGreaterThan(100);
    expect(facts.ticks).toBeGreaterThan(10);
    // One marker per failure on each time chart, named in its tooltip.
    const failures = result.series.events.filter((e) => e.kind === 'failure');
    expect(failures.length).toBe(result.group.failures);
    for (const chart of [facts.markers.exposure, facts.markers.repair]) {
      expect(chart.length).toBe(result.series.events.length);
      expect(chart.filter((m) => m.startsWith('marker marker-failure|disk failure: m')).length).toBe(
        failures.length,
      );
    }
    expectRoundTimeTicks(facts.timeTicks);
    expect(facts.timeTicks.slice(0, 3)).toEqual(['0 d', '10 d', '20 d']);
    expect(facts.empty).toEqual([]);
  });

  it.runIf(available || inCi)(
    'marks joins and removals and keeps twelve members apart by colour',
    async () => {
      const result = run({
        pledgesBytes: Array(12).fill(50e9),
        agreement: { ratio: 1.5, tolerance: 1 },
        // Failures often enough that some stripe is exposed in this seed's 90 days.
        afr: 3,
        joins: 1,
        removals: 1,
        days: 90,
      });
      expect(result.members.some((m) => m.exposedByteHours > 0)).toBe(true);
      expect(result.group.joins).toBe(1);
      expect(result.group.removals).toBe(1);
      const facts = await openReport(result);
      expect(facts.exposure).toBe(13);
      expect(new Set(facts.exposureStyles).size).toBe(13);
      for (const kind of ['join', 'removal']) {
        expect(facts.markers.repair.filter((m) => m.startsWith(`marker marker-${kind}|`)).length).toBe(1);
      }
      expectRoundTimeTicks(facts.timeTicks);
    },
  );

  it.runIf(available || inCi)(
    'says "no exposure" for a quiet run instead of drawing an empty chart',
    async () => {
      const result = run({
        pledgesBytes: [4e12, 500e9, 500e9, 250e9, 250e9],
        afr: 0,
        onlineFraction: 1,
        days: 30,
      });
      expect(result.members.every((m) => m.exposedByteHours === 0)).toBe(true);
      const facts = await openReport(result);
      expect(facts.exposure).toBe(0);
      expect(facts.empty).toContain(
        'chart-exposure: No exposure: every stripe kept at least k+f live shards for the whole run.',
      );
      expect(facts.markers.exposure).toEqual([]);
      // The 4 TB pledge cannot be used: said in a sentence.
      expect(facts.notes.some((n) => n.startsWith('m01 pledges 4.00 TB but only'))).toBe(true);
    },
  );
});
