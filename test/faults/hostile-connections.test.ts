/**
 * Hostile connections, on real pb-node processes over loopback, attacked by stock libp2p clients
 * (TCP, Noise, Yamux; no pb code) with stranger identities, each from its own loopback source
 * address (127.0.0.x: a host of its own for libp2p's per-host rate limit; traffic goes only to
 * 127.0.0.1):
 * - A member with a live invite admits strangers, but only as guests: a flood of STRANGERS
 *   identities dialing FLOOD_ROUNDS x DIALS_PER_ROUND connections each never holds more than the
 *   guest caps (per identity and in total, counted by the kernel: established sockets on the
 *   member's port); a member still connects and syncs during the flood and after it; the
 *   strangers' idle connections are closed within the guest idle time.
 * - The standalone relay (`pb-node relay --group`) serves only that group's members: strangers
 *   cannot reserve (refused, then closed when idle) nor get past a member's gate through it; a member
 *   reserves after the strangers came and went; with one slot, a member's slot is freed when it
 *   disconnects, so another member can reserve; a member reaches a relayed member through it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { circuitRelayTransport, RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { identify } from '@libp2p/identify';
import type { Connection, PrivateKey } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { type TCPSocketOptions, tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMemberKeys, OpLog, syncIndex } from '../../engine/index.ts';
import { nodeEd25519Verifier } from '../../runtime/crypto/ed25519.ts';
import { wordsToSecret } from '../../runtime/daemon/recovery/secret-words.ts';
import { GROUP_PROTOCOL, serveGroupSync, syncWithPeer } from '../../runtime/net/group-sync.ts';
import { DEFAULT_GUEST_LIMITS } from '../../runtime/net/guests.ts';
import { libp2pKeyFromSeed } from '../../runtime/net/keys.ts';
import type { PbLibp2p } from '../../runtime/net/node.ts';
import { BIN, cli, initNodeWithWords, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';

const execFileAsync = promisify(execFile);
const STRANGERS = 24;
const FLOOD_ROUNDS = 4;
const DIALS_PER_ROUND = 3;
const ROUND_GAP_MS = 1_000;
const DIAL_TIMEOUT_MS = 5_000;
const LIMITS = DEFAULT_GUEST_LIMITS;

/**
 * A stock libp2p client: `source` is the loopback address its TCP connections come from (the TCP
 * transport hands its dial options to `net.connect`, which takes `localAddress`).
 */
async function stockClient(privateKey: PrivateKey, source = '127.0.0.1'): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [tcp({ dialOpts: { localAddress: source } as TCPSocketOptions }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  });
}

/** The client of a member identity, from its recovery words. */
async function memberClient(words: string): Promise<Libp2p> {
  const keys = deriveMemberKeys(wordsToSecret(words));
  return stockClient(await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey));
}

/** Established TCP sockets on local `port`, by remote address (the kernel's count). */
async function establishedByRemote(port: number): Promise<Map<string, number>> {
  const { stdout } = await execFileAsync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`]);
  const byRemote = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const peer = line.trim().split(/\s+/).at(-1);
    if (peer === undefined || peer === '') continue;
    const host = peer.slice(0, peer.lastIndexOf(':'));
    byRemote.set(host, (byRemote.get(host) ?? 0) + 1);
  }
  return byRemote;
}

const tcpPort = (addr: string): number =>
  Number(
    multiaddr(addr)
      .getComponents()
      .find((c) => c.name === 'tcp')?.value,
  );

const strangerHost = (i: number): string => `127.0.0.${10 + i}`;

/** Guest sockets at `port`: in total and the most any one stranger address holds. */
async function strangerSockets(port: number): Promise<{ total: number; perPeerMax: number }> {
  const byRemote = await establishedByRemote(port);
  let total = 0;
  let perPeerMax = 0;
  for (let i = 0; i < STRANGERS; i++) {
    const n = byRemote.get(strangerHost(i)) ?? 0;
    total += n;
    perPeerMax = Math.max(perPeerMax, n);
  }
  return { total, perPeerMax };
}

/**
 * The guest sockets once they stop changing (two equal counts 300 ms apart, within 5 s): a
 * connection n1 refuses is closed a moment after the stranger's handshake ends. Kept guests stay
 * for the idle time (10 s), so a count over the caps would still be seen here.
 */
async function settledSockets(port: number): Promise<{ total: number; perPeerMax: number }> {
  const deadline = Date.now() + 5_000;
  let last = await strangerSockets(port);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    const next = await strangerSockets(port);
    if (next.total === last.total && next.perPeerMax === last.perPeerMax) return next;
    last = next;
  }
  return last;
}

/** Varint and field reading of the few protobuf bytes of a relay v2 HopMessage status. */
function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < bytes.length && i < at + 5; i++) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    shift += 7;
    if ((bytes[i]! & 0x80) === 0) return [value, i + 1];
  }
  throw new Error('bad varint');
}

/** Field 5 (status) of the first length-prefixed HopMessage in `bytes`, or null. */
function hopStatus(bytes: Uint8Array): number | null {
  const [length, start] = readVarint(bytes, 0);
  const end = start + length;
  if (end > bytes.length) return null;
  let at = start;
  while (at < end) {
    const [tag, next] = readVarint(bytes, at);
    at = next;
    const wire = tag & 7;
    if (wire === 0) {
      const [value, after] = readVarint(bytes, at);
      if (tag >> 3 === 5) return value;
      at = after;
    } else if (wire === 2) {
      const [n, after] = readVarint(bytes, at);
      at = after + n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return null;
}

const HOP_OK = 100;

/**
 * Sends a relay v2 RESERVE to `relay` and returns the answer: the status number, or the error
 * that ended the attempt (refused connection, reset stream).
 */
async function reserve(client: Libp2p, relay: string): Promise<number | string> {
  try {
    const stream = await client.dialProtocol(multiaddr(relay), RELAY_V2_HOP_CODEC, {
      signal: AbortSignal.timeout(DIAL_TIMEOUT_MS * 3),
    });
    // HopMessage { type: RESERVE (0) }, length-prefixed.
    stream.send(Uint8Array.from([2, 0x08, 0x00]));
    const chunks: Uint8Array[] = [];
    const deadline = setTimeout(() => stream.abort(new Error('no answer')), DIAL_TIMEOUT_MS * 3);
    try {
      for await (const chunk of stream) {
        chunks.push(chunk.subarray());
        const status = hopStatus(Buffer.concat(chunks));
        if (status !== null) return status;
      }
    } finally {
      clearTimeout(deadline);
    }
    return 'stream ended without a status';
  } catch (error) {
    return (error as Error).message;
  }
}

/** Ops received from `peer` over /pb/group/1 into an empty log. */
async function pullLog(client: Libp2p, peer: string, log: OpLog): Promise<number> {
  return syncWithPeer(client as unknown as PbLibp2p, peer, {
    index: () => syncIndex(log.hashes()),
    opBytes: (h) => log.get(h)?.bytes,
    receive: async (_p, ops) => ops.filter((b) => log.add(b).status === 'added').length,
  });
}

/** Serves `log` on /pb/group/1 (how a member proves itself to the standalone relay). */
async function serveLog(client: Libp2p, log: OpLog): Promise<void> {
  const policy = {
    mayConnect: () => true,
    mayUse: (_p: string, protocol: string) => protocol === GROUP_PROTOCOL,
    mayRelay: () => false,
  };
  await serveGroupSync(client as unknown as PbLibp2p, () => policy, {
    index: () => syncIndex(log.hashes()),
    opBytes: (h) => log.get(h)?.bytes,
    receive: async () => 0,
  });
}

async function directAddress(p: Proc): Promise<string> {
  const status = (await p.call('status')) as { addresses: string[] };
  const a = status.addresses.find((x) => x.includes('/tcp/') && !x.includes('p2p-circuit'));
  if (a === undefined) throw new Error('no direct TCP address');
  return a;
}

async function joinGroup(founder: Proc, joiner: Proc, code: string, name: string): Promise<void> {
  const joining = cli(['join', code, '--dir', joiner.dir, '--json']);
  await waitFor(`${name}'s request`, async () =>
    ((await founder.call('requests')) as { name: string }[]).some((r) => r.name === name),
  );
  expect((await cli(['approve', name, '--dir', founder.dir])).code).toBe(0);
  expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
}

describe('hostile connections', () => {
  const root = fs.mkdtempSync(join(tmpdir(), 'pb-hostile-conn-'));
  let n1: Proc;
  let m: Proc;
  let mWords = '';
  let n1Id = '';
  let n1Addr = '';
  let liveInvite = '';
  let relay: ChildProcess | null = null;
  const strangers: Libp2p[] = [];
  const clients: Libp2p[] = [];
  const procs: Proc[] = [];
  const groupLog = new OpLog({ verify: nodeEd25519Verifier() });

  beforeAll(async () => {
    // n1 and m relay for nobody: the standalone relay is the only one a hidden member can use.
    n1 = (await initNodeWithWords(root, 'n1', ['--no-relay-server'])).proc;
    const mInit = await initNodeWithWords(root, 'm', ['--no-relay-server']);
    m = mInit.proc;
    mWords = mInit.words;
    procs.push(n1, m);
    await Promise.all([n1.start(), m.start()]);
    expect((await cli(['create', '--dir', n1.dir])).code).toBe(0);
    await joinGroup(n1, m, (await cli(['invite', '--dir', n1.dir])).stdout.trim(), 'm');
    // A live invite: while it is out, n1 admits strangers (as guests) for the join protocol.
    liveInvite = (await cli(['invite', '--dir', n1.dir])).stdout.trim();
    n1Id = ((await n1.call('status')) as { id: string }).id;
    n1Addr = await directAddress(n1);
    for (let i = 0; i < STRANGERS; i++)
      strangers.push(await stockClient(await generateKeyPair('Ed25519'), strangerHost(i)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(
      [...strangers, ...clients].map((c) => Promise.resolve(c.stop()).catch(() => undefined)),
    );
    await Promise.all(procs.map((p) => p.stop()));
    if (relay !== null && relay.exitCode === null) {
      const exited = new Promise((r) => relay!.once('exit', r));
      relay.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a stranger flood stays within the guest caps; a member connects and syncs during and after it', async () => {
    const port = tcpPort(n1Addr);
    await m.stop(); // its identity connects from a stock client during the flood, then it restarts
    // A stock dialer has its connection once the handshake is done; n1 judges it right after,
    // so what n1 keeps is counted on n1's side (its sockets), not here.
    let handshakes = 0;
    let failed = 0;
    const samples: { total: number; perPeerMax: number }[] = [];
    const open: Connection[] = [];
    const flood = (async () => {
      for (let round = 0; round < FLOOD_ROUNDS; round++) {
        await Promise.all(
          strangers.map(async (s) => {
            for (let d = 0; d < DIALS_PER_ROUND; d++) {
              try {
                open.push(
                  await s.dial(multiaddr(n1Addr), {
                    force: true,
                    signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
                  }),
                );
                handshakes++;
              } catch {
                failed++;
              }
            }
          }),
        );
        // Every dial of the round has settled: no handshake is pending, the sockets are the guests
        // n1 kept (once the ones it refused in the last milliseconds are closed).
        samples.push(await settledSockets(port));
        await new Promise((r) => setTimeout(r, ROUND_GAP_MS));
      }
    })();
    // A member during the flood: once the first round has filled the guest slots.
    await waitFor('the first round', async () => samples.length > 0, 60_000);
    const member = await memberClient(mWords);
    clients.push(member);
    await member.dial(multiaddr(n1Addr), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    const during = await pullLog(member, n1Id, groupLog);
    const memberConnectedAtMs = Date.now();
    await flood;
    expect(during).toBeGreaterThan(0);
    expect(member.getConnections().some((c) => c.remotePeer.toString() === n1Id && c.status === 'open')).toBe(
      true,
    );
    const floodEndedAtMs = Date.now();
    const maxTotal = Math.max(...samples.map((s) => s.total));
    const maxPerPeer = Math.max(...samples.map((s) => s.perPeerMax));
    console.log(
      `flood: ${handshakes} handshakes, ${failed} failed dials; guest sockets after each round ` +
        `${samples.map((x) => x.total).join(', ')} (cap ${LIMITS.total}), ` +
        `${maxPerPeer} per stranger (cap ${LIMITS.perPeer}); the member synced ${during} ops ` +
        `${memberConnectedAtMs - floodEndedAtMs} ms before the flood ended`,
    );
    // Far more connections were tried than the caps let stay; the live invite let some stay.
    expect(handshakes + failed).toBe(STRANGERS * FLOOD_ROUNDS * DIALS_PER_ROUND);
    expect(handshakes).toBeGreaterThan(2 * LIMITS.total);
    expect(maxTotal).toBeGreaterThan(LIMITS.perPeer);
    expect(maxTotal).toBeLessThanOrEqual(LIMITS.total);
    expect(maxPerPeer).toBeLessThanOrEqual(LIMITS.perPeer);
    // Idle guests are closed by n1 within the idle time (and a check period).
    await waitFor(
      'the idle guests to be closed',
      async () => (await strangerSockets(port)).total === 0,
      LIMITS.idleMs + 15_000,
    );
    await waitFor('the strangers to see their connections closed', async () =>
      open.every((c) => c.status !== 'open'),
    );
    // The member's own daemon after the flood: it connects and syncs with n1.
    await member.stop();
    const restartedAtMs = Date.now();
    await m.start();
    await waitFor(
      'm to sync with n1 after the flood',
      async () => {
        const rows = (await m.call('members')) as { name: string; lastSeenMs: number | null }[];
        return (rows.find((r) => r.name === 'n1')?.lastSeenMs ?? 0) > restartedAtMs;
      },
      60_000,
    );
  }, 180_000);

  it('the standalone relay serves members only and frees a slot when its member leaves', async () => {
    const groupId = ((await n1.call('status')) as { groupId: string }).groupId;
    let out = '';
    let err = '';
    relay = spawn(
      process.execPath,
      [BIN, 'relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--group', groupId, '--max-reservations', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    relay.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    relay.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20_000);
    });
    const relayAddr = await waitFor('the relay address', async () =>
      out.split('\n').find((l) => l.startsWith('/ip4/')),
    );
    const relayPort = tcpPort(relayAddr);
    // Strangers come: none may reserve; each is disconnected.
    const answers = await Promise.all(strangers.map((s) => reserve(s, relayAddr)));
    expect(answers.filter((a) => a === HOP_OK)).toEqual([]);
    await waitFor(
      'the strangers to be disconnected',
      async () => (await strangerSockets(relayPort)).total === 0,
      20_000,
    );
    // A member (m's identity, serving the group log it pulled from n1) reserves the one slot.
    const member = await memberClient(mWords);
    clients.push(member);
    await member.dial(multiaddr(n1Addr), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    await pullLog(member, n1Id, groupLog);
    expect(groupLog.size).toBeGreaterThan(0);
    await serveLog(member, groupLog);
    expect(await reserve(member, relayAddr)).toBe(HOP_OK);
    // The member leaves: its slot (the only one) is free for the next member at once.
    await member.stop();
    const hiddenInit = await initNodeWithWords(root, 'hidden', [
      '--listen',
      '/p2p-circuit',
      '--no-webrtc',
      '--relay',
      relayAddr,
    ]);
    const hidden = hiddenInit.proc;
    procs.push(hidden);
    await hidden.start();
    await joinGroup(n1, hidden, liveInvite, 'hidden');
    const circuit = await waitFor(
      'hidden to hold a reservation on the relay',
      async () =>
        ((await hidden.call('status')) as { addresses: string[] }).addresses.find(
          (a) => a.startsWith(relayAddr) && a.includes('/p2p-circuit'),
        ),
      60_000,
    ).catch(async (e: Error) => {
      const addresses = ((await hidden.call('status')) as { addresses: string[] }).addresses;
      throw new Error(
        `${e.message} (relay ${relayAddr}; n1 ${n1Addr}; hidden's addresses ${addresses.join(' ')})\nrelay log:\n${err}\nhidden log:\n${hidden.stderr}`,
      );
    });
    expect(circuit).toContain(relayAddr.split('/p2p/')[1]);
    // A member reaches the relayed member through the relay (hidden listens on no port).
    const reader = await memberClient(mWords);
    clients.push(reader);
    await serveLog(reader, groupLog);
    const hiddenId = ((await hidden.call('status')) as { id: string }).id;
    await reader.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${hiddenId}`), {
      signal: AbortSignal.timeout(20_000),
    });
    // A stranger reaches the hidden member through the relay only to meet its gate (hidden has
    // no invite out): no connection, so not a byte of any pb protocol.
    const stranger = strangers[0]!;
    await expect(
      stranger.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${hiddenId}`), {
        signal: AbortSignal.timeout(DIAL_TIMEOUT_MS * 3),
      }),
    ).rejects.toThrow();
    expect(stranger.getConnections().filter((c) => c.remotePeer.toString() === hiddenId)).toEqual([]);
    const fromHidden = new OpLog({ verify: nodeEd25519Verifier() });
    expect(await pullLog(reader, hiddenId, fromHidden)).toBeGreaterThan(0);
    expect(
      reader
        .getConnections()
        .filter((c) => c.remotePeer.toString() === hiddenId)
        .every((c) => c.remoteAddr.toString().includes('/p2p-circuit')),
    ).toBe(true);
  }, 180_000);
});
