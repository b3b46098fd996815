/**
 * The syncer's timer rounds leave out a member reconciled with this one (by either side) within
 * half a period, so two quiet members reconcile once per period, not twice
 * (runtime/daemon/group/group-syncer.ts; docs/design.md, "Idle cost"). Real libp2p nodes on
 * 127.0.0.1 serving `/pb/group/1`; each member's op log is an in-memory set of op hashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GroupState, syncIndex } from '../../../engine/index.ts';
import type { GroupService } from '../../../runtime/daemon/group/group-service.ts';
import { GroupSyncer } from '../../../runtime/daemon/group/group-syncer.ts';
import { serveGroupSync } from '../../../runtime/net/group-sync.ts';
import { setPolicy, type TestNode, testNode } from '../net/_helpers.ts';

/** The serving side reports after its last frame, a moment after the opener returns. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('group sync rounds', () => {
  const nodes: TestNode[] = [];
  const members = new Set<string>();
  /** Reconciliations served: "server<-opener". */
  const served: string[] = [];

  beforeAll(async () => {
    const policy = setPolicy(members);
    for (let i = 0; i < 3; i++) nodes.push(await testNode(policy));
    for (const n of nodes) members.add(n.id);
    for (const n of nodes) {
      await serveGroupSync(n.node, policy, {
        index: () => syncIndex([]),
        opBytes: () => undefined,
        receive: async () => 0,
        reconciled: (peer) => {
          served.push(`${n.id}<-${peer}`);
        },
      });
    }
    for (const other of nodes.slice(1)) await nodes[0]!.node.dial(other.node.getMultiaddrs()[0]!);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.node.stop()));
  });

  /** `index`: the log's sync index (by default a new one at every call: a log that keeps changing). */
  function syncerOf(
    n: TestNode,
    lastSeen: Map<string, number>,
    index: () => ReturnType<typeof syncIndex> = () => syncIndex([]),
  ): GroupSyncer {
    const state = { members: nodes.map((m) => ({ id: m.id })) } as unknown as GroupState;
    const group = {
      state,
      isMember: (id: string) => members.has(id),
      syncIndex: index,
      opBytes: () => undefined,
      receive: () => ({ added: 0, rejected: 0 }),
    } as unknown as GroupService;
    return new GroupSyncer({
      node: n.node,
      group,
      self: n.id,
      webrtc: false,
      lastSeen,
      log: () => {},
      afterRound: () => {},
    });
  }

  it('a served reconciliation is reported to the serving side with the opener', async () => {
    const [a, b] = nodes as [TestNode, TestNode];
    const lastSeen = new Map<string, number>();
    expect(await syncerOf(a, lastSeen).syncWith(b.id)).toBe(0);
    await until('b to report the reconciliation', () => served.includes(`${b.id}<-${a.id}`));
    expect(served).toEqual([`${b.id}<-${a.id}`]);
    expect(lastSeen.get(b.id)).toBeGreaterThan(Date.now() - 10_000);
  }, 30_000);

  it('a timer round skips the member reconciled within half a period; a round asked for skips none', async () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    served.length = 0;
    const lastSeen = new Map<string, number>();
    const syncer = syncerOf(a, lastSeen);
    syncer.reconciled(b.id); // b just opened a reconciliation with a
    expect(lastSeen.has(b.id)).toBe(true);
    await syncer.syncAll(15_000);
    await until('c to report the reconciliation', () => served.length === 1);
    expect(served).toEqual([`${c.id}<-${a.id}`]);
    // Both are now recent: a timer round has nothing to do, a full round reaches both.
    await syncer.syncAll(15_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(served).toEqual([`${c.id}<-${a.id}`]);
    await syncer.syncAll();
    await until('b and c to report', () => served.length === 3);
    expect(served.slice(1).sort()).toEqual([`${b.id}<-${a.id}`, `${c.id}<-${a.id}`].sort());
    // A non-member's reconciliation (a standalone relay reading the log) is not remembered.
    syncer.reconciled('12D3KooWRWyrLLLjLLBsuaJFxNsPvKWCEDhkrYRVowzjw77W7T2o');
    expect(lastSeen.has('12D3KooWRWyrLLLjLLBsuaJFxNsPvKWCEDhkrYRVowzjw77W7T2o')).toBe(false);
  }, 30_000);

  it('a timer round skips a member reconciled at this log as it is, for a bounded time', async () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    served.length = 0;
    let index = syncIndex([]);
    const syncer = syncerOf(a, new Map(), () => index);
    syncer.reconciled(b.id);
    syncer.reconciled(c.id);
    // Long past half a period, but the log is as it was at both reconciliations: nothing to do.
    await new Promise((r) => setTimeout(r, 50));
    await syncer.syncAll(1, 60_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(served).toEqual([]);
    // Past the quiet bound: both again.
    await syncer.syncAll(1, 1);
    await until('b and c to report', () => served.length === 2);
    // The log changed (a new index): both again, though just reconciled at the old one.
    index = syncIndex([]);
    await new Promise((r) => setTimeout(r, 50));
    await syncer.syncAll(1, 60_000);
    await until('b and c to report again', () => served.length === 4);
  }, 30_000);
});
