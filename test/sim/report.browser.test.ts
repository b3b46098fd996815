/**
 * Opens the simulator's HTML report in headless Chromium (Debian's `chromium`, which `.ci/run`
 * installs) and checks that the three charts drew and that the console stayed clean.
 * Outside CI a machine without /usr/bin/chromium skips this file; in CI (CI=true) it fails.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../sim/config.ts';
import { renderHtml } from '../../sim/report.ts';
import { runSimulation } from '../../sim/simulation.ts';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';

describe('simulator report in a browser', () => {
  it('has chromium in CI', () => {
    if (inCi) expect(available, `${CHROMIUM} is missing: .ci/run installs it with apt-get`).toBe(true);
  });

  it.runIf(available || inCi)('draws the charts with no console errors', async () => {
    const result = runSimulation(
      defaultConfig({
        pledgesBytes: [10e12, 1.78e12, 316e9, 56e9, 10e9],
        days: 60,
        afr: 3,
        seed: 'browser',
        shardBytes: 32 * 2 ** 20,
      }),
    );
    expect(result.group.failures).toBeGreaterThan(0);
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
      // A string, evaluated in the page (the test's TypeScript has no DOM types).
      const counts = (await page.evaluate(`({
        bars: document.querySelectorAll('#chart-members g.member rect').length,
        exposure: document.querySelectorAll('#chart-exposure path.exposure').length,
        traffic: document.querySelectorAll('#chart-repair path.traffic').length,
        trafficPath: document.querySelector('#chart-repair path.traffic')?.getAttribute('d') ?? '',
        ticks: document.querySelectorAll('.axis .tick').length,
      })`)) as { bars: number; exposure: number; traffic: number; trafficPath: string; ticks: number };
      expect(counts.bars).toBe(result.members.length * 4);
      expect(counts.exposure).toBe(result.members.length);
      expect(counts.traffic).toBe(2);
      expect(counts.trafficPath.length).toBeGreaterThan(100);
      expect(counts.ticks).toBeGreaterThan(10);
    } finally {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
  });
});
