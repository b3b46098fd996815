/**
 * `pb-node relay` as its own process, serving one group: a member that listens on no port
 * reserves a slot on it and another member stores an 8 MiB shard through it (the relay's limits
 * are raised for shards). Both prove their membership to the relay with the group log they serve
 * on /pb/group/1. (Strangers at the relay: test/faults/hostile-connections.test.ts.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, describe, expect, it } from 'vitest';
import { OpLog, syncIndex } from '../../../engine/index.ts';
import { serveGroupSync } from '../../../runtime/net/group-sync.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { serveShards } from '../../../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { createOp, DAY_MS, idOf, Replica, T0, tokenOf } from '../../engine/group/helpers.ts';
import { setPolicy, type TestNode, testNode } from '../net/_helpers.ts';
import { BIN, waitFor } from './_cluster.ts';

describe('pb-node relay', () => {
  const root = fs.mkdtempSync(join(tmpdir(), 'pb-standalone-relay-'));
  let relay: ChildProcess | null = null;
  const nodes: TestNode[] = [];

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.node.stop()));
    if (relay !== null && relay.exitCode === null) {
      const exited = new Promise((r) => relay!.once('exit', r));
      relay.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('relays a shard between two members; its key is kept in a 0600 file', async () => {
    // A group of two: identity 1 founds it and admits identity 2.
    const group = new Replica([createOp(1)]);
    const { token, tokenHash } = tokenOf('standalone-relay');
    group.act(1, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    const request = group.act(2, { kind: 'request', name: 'writer', addresses: [], token });
    group.act(1, { kind: 'approve', candidate: idOf(2), request: request.hash });
    const log = new OpLog();
    for (const op of group.ops) log.addOp(op);
    const keyFile = join(root, 'relay.key');
    let out = '';
    relay = spawn(
      process.execPath,
      [
        BIN,
        'relay',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--key-file',
        keyFile,
        '--group',
        group.ops[0]!.hash,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    relay.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const relayAddr = await waitFor('the relay address', async () =>
      out.split('\n').find((l) => l.startsWith('/ip4/')),
    );
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const members = new Set<string>();
    const policy = setPolicy(members);
    const hidden = await testNode(policy, { listen: ['/p2p-circuit'] }, new Uint8Array(32).fill(1));
    const writer = await testNode(policy, {}, new Uint8Array(32).fill(2));
    nodes.push(hidden, writer);
    members.add(hidden.id).add(writer.id).add(relayAddr.split('/p2p/')[1]!);
    for (const n of [hidden, writer]) {
      await serveGroupSync(n.node, policy, {
        index: () => syncIndex(log.hashes()),
        opBytes: (h) => log.get(h)?.bytes,
        receive: async () => 0,
      });
    }
    const store = await PledgedShardStore.open(join(root, 'store'), {
      pledgeBytes: 16 * 1024 * 1024,
      durable: false,
    });
    await serveShards(hidden.node, policy, store);
    await hidden.node.dial(multiaddr(relayAddr));
    const circuit = await waitFor('a reservation', async () =>
      hidden.node.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit')),
    );
    await writer.node.dial(circuit);
    const bytes = randomBytes(8 * 1024 * 1024);
    const id = createHash('sha256').update(bytes).digest('hex');
    const remote = new RemoteShardStore(writer.node, hidden.id);
    await remote.put(id, bytes);
    expect(await store.has(id)).toBe(true);
    expect(
      writer.node
        .getConnections(hidden.node.peerId)
        .every((c) => c.remoteAddr.toString().includes('/p2p-circuit')),
    ).toBe(true);
  }, 90_000);
});
