/**
 * A pb-node process that listens on no TCP port (reachable only through a relay, and WebRTC)
 * joins a group; once a member, it holds a relay reservation on the reachable member and the
 * group converges with it.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, initNode, memberNames, type Proc, waitFor } from './_cluster.ts';

describe('a member reachable only through a relay', () => {
  let root: string;
  let n1: Proc;
  let m: Proc;
  let hidden: Proc;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-relayed-'));
    [n1, m] = await Promise.all([initNode(root, 'n1'), initNode(root, 'm')]);
    await Promise.all([n1.start(), m.start()]);
    const relayAddr = ((await n1.call('status')) as { addresses: string[] }).addresses[0]!;
    hidden = await initNode(root, 'hidden', ['--listen', '/p2p-circuit', '/webrtc', '--relay', relayAddr]);
    await hidden.start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([n1, m, hidden].map((p) => p?.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('joins, reserves a relay slot once admitted, and converges', async () => {
    expect((await cli(['create', '--dir', n1.dir])).code).toBe(0);
    for (const p of [m, hidden]) {
      const code = (await cli(['invite', '--dir', n1.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', p.dir, '--json']);
      const name = p.dir.split('/').at(-1)!;
      await waitFor('request', async () =>
        ((await n1.call('requests')) as { name: string }[]).some((r) => r.name === name),
      );
      expect((await cli(['approve', name, '--dir', n1.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    const circuit = await waitFor(
      'a relayed address',
      async () =>
        ((await hidden.call('status')) as { addresses: string[] }).addresses.find((a) =>
          a.includes('/p2p-circuit'),
        ),
      60_000,
    );
    expect(circuit).toContain('/p2p-circuit');
    for (const p of [n1, m, hidden]) {
      await waitFor(
        `${p.dir} converges`,
        async () => JSON.stringify(await memberNames(p)) === JSON.stringify(['hidden', 'm', 'n1']),
      );
    }
    await waitFor('m and hidden have synced', async () => {
      const rows = (await m.call('members')) as { name: string; lastSeenMs: number | null }[];
      return rows.find((r) => r.name === 'hidden')?.lastSeenMs != null;
    });
  }, 180_000);
});
