/**
 * The dashboard against live daemons in headless Chromium (Debian's `chromium`, which `.ci/run`
 * installs, driven by playwright-core): the page loads with the token, draws its four charts and
 * lists the members; clicking approve on a waiting join request makes the candidate a member; the
 * console stays clean and the page asks nothing of any other origin. Requests without the token
 * (or with a wrong one, or a foreign Host) are refused. Outside CI a machine without
 * /usr/bin/chromium skips the browser part; in CI (CI=true) it fails.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../../runtime/daemon/status/status-report.ts';
import { cli, initNode, memberNames, type Proc, waitFor } from './_cluster.ts';

const CHROMIUM = '/usr/bin/chromium';
const available = fs.existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const MiB = 1024 * 1024;

function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the dashboard', () => {
  let root: string;
  const nodes: Proc[] = [];
  let owner: Proc;
  let url: string;
  let token: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-dashboard-'));
    const src = join(root, 'home');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'photo.jpg'), randomBytes(MiB + 4321));
    const procs = await Promise.all(
      ['owner', 'm2', 'm3'].map((name) =>
        initNode(root, name, [
          '--pledge',
          '64MiB',
          ...(name === 'owner' ? ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'] : []),
        ]),
      ),
    );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    owner = procs[0]!;
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '2', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of procs.slice(1)) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '90s']);
      const name = candidate.dir.split('/').at(-1)!;
      await waitFor(
        `${name}'s request`,
        async () => ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    await waitFor(
      'three members with pledges',
      async () =>
        ((await owner.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0)
          .length === 3,
      60_000,
    );
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const report = (await owner.call('report')) as StatusReport;
    expect(report.dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    url = report.dashboard.url!;
    token = fs.readFileSync(join(owner.dir, 'dashboard-token'), 'utf8').trim();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses requests without the right token, and from a foreign Host', async () => {
    expect((await request(url)).status).toBe(401);
    expect((await request(`${url}api/status`)).status).toBe(401);
    expect((await request(`${url}api/status?token=${'0'.repeat(64)}`)).status).toBe(403);
    expect((await request(`${url}api/status`, { headers: { Authorization: 'Bearer nope' } })).status).toBe(
      403,
    );
    expect((await request(`${url}nowhere`)).status).toBe(401);
    // A page on another name resolving to 127.0.0.1 (DNS rebinding) does not get in.
    const foreign = await request(`${url}api/status?token=${token}`, {
      headers: { Host: 'evil.example:80' },
    });
    expect(foreign.status).toBe(403);
    // Decisions need the token in the header, not the address.
    const post = await request(`${url}api/approve?token=${token}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"who":"x"}',
    });
    expect(post.status).toBe(401);
    const ok = await request(`${url}api/status`, { headers: { Authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as StatusReport).version).toBe(1);
    const page = await request(`${url}?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toMatch(/<script[^>]+src=/); // self-contained: d3 is inlined
  });

  it('keeps its port across a restart (port 0 picks one the first time)', async () => {
    const m3 = nodes.find((p) => p.dir.endsWith('/m3'))!;
    const before = ((await m3.call('report')) as StatusReport).dashboard.url;
    expect(before).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(fs.readFileSync(join(m3.dir, 'dashboard-port'), 'utf8').trim()).toBe(new URL(before!).port);
    await m3.stop();
    await m3.start();
    expect(((await m3.call('report')) as StatusReport).dashboard.url).toBe(before);
  }, 120_000);

  it('has chromium in CI', () => {
    if (inCi) expect(available, `${CHROMIUM} is missing: .ci/run installs it with apt-get`).toBe(true);
  });

  it.runIf(available || inCi)(
    'shows the charts and the members; approve on a waiting request makes the member join',
    async () => {
      const m4 = await initNode(root, 'm4', ['--pledge', '64MiB']);
      nodes.push(m4);
      await m4.start();
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', m4.dir, '--json', '--wait', '120s']);
      const m4id = ((await m4.call('status')) as { id: string }).id;
      await waitFor(
        "m4's request",
        async () =>
          ((await owner.call('requests')) as { candidate: string }[]).some((r) => r.candidate === m4id),
        60_000,
      );

      const profile = fs.mkdtempSync(join(root, 'profile-'));
      const context = await chromium.launchPersistentContext(profile, {
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
      const foreign: string[] = [];
      /** The daemons' own pages: the page asks nothing else. */
      const own = [url];
      try {
        const page = await context.newPage();
        page.on('console', (msg) => {
          if (msg.type() === 'error' || msg.type() === 'warning')
            problems.push(`${msg.type()}: ${msg.text()}`);
        });
        page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
        page.on('request', (req) => {
          if (!own.some((u) => req.url().startsWith(u))) foreign.push(req.url());
        });
        await page.goto(`${url}?token=${token}`);
        await page.waitForSelector('body[data-charts-drawn="4"]', { timeout: 30_000 });
        const counts = (await page.evaluate(`({
          members: [...document.querySelectorAll('#members tbody tr')].map((tr) => tr.firstChild.textContent),
          bars: document.querySelectorAll('#chart-members g.member rect').length,
          coverage: document.querySelectorAll('#chart-coverage g.coverage rect').length,
          holders: document.querySelectorAll('#chart-coverage rect.holder').length,
          holderWidths: [...document.querySelectorAll('#chart-coverage rect.holder')].map((r) => Number(r.getAttribute('width'))),
          exposure: document.querySelectorAll('#chart-exposure path.exposure').length,
          traffic: document.querySelectorAll('#chart-repair path.traffic').length,
          ticks: document.querySelectorAll('.axis .tick').length,
          timeTicks: [...document.querySelectorAll('#chart-exposure .axis .tick text, #chart-repair .axis .tick text')]
            .map((t) => t.textContent).filter((t) => !/B$/.test(t)),
          axes: [...document.querySelectorAll('.axis')].map((a) => [...a.querySelectorAll('.tick text')].map((t) => t.textContent)),
          loading: document.querySelector('#loading') !== null,
          words: document.querySelector('#w-backup').textContent,
          requests: [...document.querySelectorAll('#requests li.request')].map((li) => li.dataset.candidate),
        })`)) as {
          members: string[];
          bars: number;
          coverage: number;
          holders: number;
          holderWidths: number[];
          exposure: number;
          traffic: number;
          ticks: number;
          timeTicks: string[];
          axes: string[][];
          loading: boolean;
          words: string;
          requests: string[];
        };
        expect(counts.members.sort()).toEqual(['* owner', 'm2', 'm3']);
        expect(counts.bars).toBe(3 * 3);
        expect(counts.coverage).toBe(4);
        expect(counts.holders).toBe(2);
        expect(Math.min(...counts.holderWidths)).toBeGreaterThan(0); // both hold part of the backup
        expect(counts.exposure).toBe(1);
        expect(counts.traffic).toBe(1);
        expect(counts.ticks).toBeGreaterThan(10);
        // 24-hour clock times (or a date at midnight), never "04:08 PM"-style 12-hour ones.
        expect(counts.timeTicks.length).toBeGreaterThan(0);
        for (const t of counts.timeTicks)
          expect(t).toMatch(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$|^[A-Z][a-z]{2} \d\d$/);
        // No axis repeats a label ("0 B 0 B 0 B 1 B").
        for (const labels of counts.axes) expect(new Set(labels).size, labels.join(' ')).toBe(labels.length);
        expect(counts.loading).toBe(false);
        expect(counts.words).toMatch(/^yes, everything is backed up/);
        expect(counts.requests).toEqual([m4id]);
        // The reach column: how each holder is reached (the owner's backup went over loopback TCP).
        const reach = (await page.evaluate(
          `[...document.querySelectorAll('#members tbody tr')].filter((tr) => !tr.firstChild.textContent.startsWith('*')).map((tr) => tr.lastChild.textContent)`,
        )) as string[];
        expect(reach).toHaveLength(2);
        for (const r of reach) expect(r).toMatch(/^direct( [\d.]+ [kMG]?B\/s)?$/);

        // Pause and resume uploads from the page: the daemon's own pause (the CLI's).
        await page.click('#upload-toggle[data-verb="pause"]');
        await page.waitForSelector('#upload-toggle[data-verb="resume"]', { timeout: 15_000 });
        expect(((await owner.call('status')) as { upload: { paused: boolean } }).upload.paused).toBe(true);
        expect(await page.textContent('#w-upload')).toMatch(/^paused until /);
        await page.click('#upload-toggle[data-verb="resume"]');
        await page.waitForSelector('#upload-toggle[data-verb="pause"]', { timeout: 15_000 });
        expect(((await owner.call('status')) as { upload: { paused: boolean } }).upload.paused).toBe(false);

        // Approve in the page: the same code as `pb-node approve`; the candidate joins.
        await page.click(`#requests li.request[data-candidate="${m4id}"] button.approve`);
        expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
        expect(await memberNames(owner)).toEqual(['m2', 'm3', 'm4', 'owner']);
        await page.waitForFunction(`document.querySelectorAll('#members tbody tr').length === 4`, undefined, {
          timeout: 30_000,
        });
        await page.waitForFunction(
          `document.querySelectorAll('#requests li.request').length === 0`,
          undefined,
          {
            timeout: 30_000,
          },
        );
        // A member with no directories of its own: said plainly, not shown as an error.
        const m2 = nodes.find((p) => p.dir.endsWith('/m2'))!;
        const m2Url = ((await m2.call('report')) as StatusReport).dashboard.url!;
        const m2Token = fs.readFileSync(join(m2.dir, 'dashboard-token'), 'utf8').trim();
        own.push(m2Url);
        await page.goto(`${m2Url}?token=${m2Token}`);
        await page.waitForSelector('body[data-charts-drawn="4"]', { timeout: 30_000 });
        const m2Backup = (await page.evaluate(
          `({ text: document.querySelector('#w-backup').textContent, alert: document.querySelector('#w-backup').classList.contains('alert') })`,
        )) as { text: string; alert: boolean };
        expect(m2Backup).toEqual({ text: 'nothing to back up: no directories are configured', alert: false });
      } finally {
        await context.close();
      }
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    },
    180_000,
  );
});
