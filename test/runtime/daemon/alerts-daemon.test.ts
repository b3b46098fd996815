/**
 * Alerts from live pb-node processes: a join request waiting and no successful backup for a short
 * configured period each produce exactly one mail at an in-process SMTP server, and one more when
 * they clear (approve; a backup). A member whose SMTP server refuses connections logs the failure,
 * retries, and its backups still succeed.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type NodeConfig, renderConfig } from '../../../runtime/daemon/config/config.ts';
import { SmtpSink } from '../../../runtime/demo/smtp-sink.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';

function setConfig(dir: string, patch: Partial<NodeConfig>): void {
  const c = loadConfig(dir);
  fs.writeFileSync(join(dir, 'config'), renderConfig({ ...c, ...patch }));
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('alert mails from a live daemon', () => {
  let root: string;
  let sink: SmtpSink;
  let ann: Proc;
  let bob: Proc;
  let carol: Proc;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-alerts-live-'));
    sink = await SmtpSink.start();
    const srcA = join(root, 'ann-home');
    const srcB = join(root, 'bob-home');
    fs.mkdirSync(srcA);
    fs.mkdirSync(srcB);
    fs.writeFileSync(join(srcA, 'letter.txt'), 'dear bob\n'.repeat(1000));
    fs.writeFileSync(join(srcB, 'notes.txt'), 'remember the milk\n');
    const common = ['--pledge', '64MiB', '--schedule', 'off', '--watch-debounce', '0s'];
    ann = await initNode(root, 'ann', [...common, '--directories', srcA]);
    bob = await initNode(root, 'bob', [...common, '--directories', srcB]);
    setConfig(ann.dir, {
      mail: {
        host: '127.0.0.1',
        port: sink.port,
        secure: false,
        starttls: 'auto',
        user: null,
        passwordFile: null,
        from: 'pb@ann.test',
        to: ['ann@ann.test'],
      },
      alerts: {
        exposureGraceMs: 3_600_000,
        // Long enough that the checks after ann's backup finish before the rule could rightly open
        // again (at 4 s a loaded machine listed the alerts after it had: "open since ..."), short
        // enough for the first mail to come well within its wait.
        noBackupMs: 20_000,
        pledgeNearlyFullFraction: 0.9,
        joinRequestAfterMs: 0,
        checkIntervalMs: 200,
      },
    });
    setConfig(bob.dir, {
      mail: {
        host: '127.0.0.1',
        port: await closedPort(),
        secure: false,
        starttls: 'auto',
        user: null,
        passwordFile: null,
        from: 'pb@bob.test',
        to: ['bob@bob.test'],
      },
      alerts: {
        exposureGraceMs: 3_600_000,
        noBackupMs: 1_000,
        pledgeNearlyFullFraction: 0.9,
        joinRequestAfterMs: 0,
        checkIntervalMs: 200,
      },
    });
    carol = await initNode(root, 'carol', ['--pledge', '64MiB']);
    await Promise.all([ann.start(), bob.start(), carol.start()]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ann?.stop(), bob?.stop(), carol?.stop()]);
    await sink?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const count = (subject: string): number => sink.mails.filter((m) => m.subject === subject).length;

  it('a waiting join request mails once, and once more when approved; no backup mails once and clears with a backup', async () => {
    // Three members: each stripe on the two others (ratio 2, tolerance 1).
    expect((await cli(['create', '--dir', ann.dir, '--ratio', '2', '--tolerance', '1'])).code).toBe(0);
    const code = (await cli(['invite', '--dir', ann.dir])).stdout.trim();
    const joining = cli(['join', code, '--dir', bob.dir, '--json', '--wait', '90s']);
    await waitFor(
      'the join request mail',
      async () => count('[pb] ann: bob asks to join the group') === 1,
      60_000,
    );
    const requestMail = sink.mails.find((m) => m.subject === '[pb] ann: bob asks to join the group')!;
    expect(requestMail.to).toEqual(['ann@ann.test']);
    expect(requestMail.text).toContain(`pb-node approve bob --dir ${ann.dir}`);
    expect((await cli(['approve', 'bob', '--dir', ann.dir])).code).toBe(0);
    expect((await joining).code).toBe(0);
    await waitFor(
      'the resolved mail',
      async () => count('[pb] ann: resolved: bob asks to join the group') === 1,
      60_000,
    );
    // A third member, so that a stripe can survive one lost member (tolerance 1).
    const code2 = (await cli(['invite', '--dir', ann.dir])).stdout.trim();
    const joining2 = cli(['join', code2, '--dir', carol.dir, '--json', '--wait', '90s']);
    await waitFor('carol waiting', async () =>
      ((await ann.call('requests')) as { name: string }[]).some((r) => r.name === 'carol'),
    );
    expect((await cli(['approve', 'carol', '--dir', ann.dir])).code).toBe(0);
    expect((await joining2).code).toBe(0);
    await waitFor(
      'bob sees three members',
      async () => ((await bob.call('status')) as { members: number }).members === 3,
    );
    // ann has holders (bob and carol pledged) and directories, and has never backed up.
    await waitFor('the no-backup mail', async () => count('[pb] ann: no successful backup') === 1, 60_000);
    const noBackup = sink.mails.find((m) => m.subject === '[pb] ann: no successful backup')!;
    expect(noBackup.text).toContain('What to do');
    expect(noBackup.text).toContain(`pb-node backup --dir ${ann.dir}`);
    const backup = await cli(['backup', '--dir', ann.dir]);
    expect(backup.code, backup.stderr).toBe(0);
    await waitFor(
      'the no-backup resolved mail',
      async () => count('[pb] ann: resolved: no successful backup') === 1,
      60_000,
    );
    // Still exactly one of each after a few more checks.
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of [
      '[pb] ann: bob asks to join the group',
      '[pb] ann: resolved: bob asks to join the group',
      '[pb] ann: no successful backup',
      '[pb] ann: resolved: no successful backup',
    ])
      expect(count(s)).toBe(1);
    const list = await cli(['alerts', 'list', '--dir', ann.dir]);
    expect(list.stdout).toContain('no open alerts');
    const test = await cli(['alerts', 'test', '--dir', ann.dir]);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^Test mail sent by the daemon via 127\.0\.0\.1:\d+ to ann@ann\.test/);
    expect(count('[pb] ann: test mail')).toBe(1);
  }, 180_000);

  it('a refusing SMTP server does not stop backups: the failure is logged and retried', async () => {
    const log = (): string => fs.readFileSync(join(bob.dir, 'pb-node.log'), 'utf8');
    await waitFor(
      'bob failing to mail',
      async () => /could not send "\[pb\] bob: no successful backup"/.test(log()),
      60_000,
    );
    expect(log()).toMatch(/ECONNREFUSED/);
    const backup = await cli(['backup', '--dir', bob.dir, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect((JSON.parse(backup.stdout) as { snapshotId: string }).snapshotId).toMatch(/^[0-9a-f]{64}$/);
    // The clearing is queued behind the unsent open mail; the daemon lives on.
    await waitFor(
      'the no-backup alert cleared',
      async () => /ALERT cleared: \[pb\] bob: resolved/.test(log()),
      30_000,
    );
    const test = await cli(['alerts', 'test', '--dir', bob.dir]);
    expect(test.code).toBe(1);
    expect(test.stderr).toMatch(
      /pb-node alerts test: sending mail via 127\.0\.0\.1:\d+ failed \(ECONNREFUSED\)/,
    );
    expect(((await bob.call('status')) as { name: string }).name).toBe('bob');
  }, 120_000);
});
