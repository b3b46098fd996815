/**
 * `pnpm bench transport`: shard put and get between two members over direct TCP, a circuit relay,
 * and WebRTC (signalled through the relay), next to a raw libp2p stream on the same link in the
 * same run. MiB/s; target: put and get >= 0.8x the raw stream on each path.
 *
 * Loopback: the writer runs in this process, the relay and the target member each in a process
 * of its own (as members run), all on 127.0.0.1. Shards are 32 MiB,
 * stored durably (fsync) in a PledgedShardStore and verified (SHA-256) on both ends, as in the
 * daemon. `--testbed` adds the same measurements between two members behind NAT routers on the
 * namespace testbed (bench/_transport-testbed.ts); `--testbed-only` runs only that and prints it
 * without writing the report. Options: --mib N (data per loopback measurement, default 128),
 * --testbed-mib N (default 32), --testbed-shard-mib N (default 4), --wan LIST (the testbed runs, one per
 * entry: `none` or a rate for the homes' lines, shaped with tc tbf; default none,50mbit),
 * --in-flight N, --json.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { dialPreferringWebRTC } from '../runtime/net/dial.ts';
import { MiB, makeNode, measure, onlyLink, type PathResult, SHARD_BYTES } from './_transport-measure.ts';
import { runTestbed, type TestbedRun } from './_transport-testbed.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const ENTRY = new URL('./_transport-worker.mjs', import.meta.url).pathname;

/** Shard requests in flight to the one target (the RemoteShardStore bound); --in-flight N. */
let IN_FLIGHT = 3;

/** A bench node in its own process (bench/_transport-node.ts): a stop message ends it. */
export interface NodeProcess {
  postMessage(m: { stop?: boolean; members?: string[] }): void;
  once(event: 'exit', fn: () => void): void;
}

/**
 * Starts a bench node as a child process, as members run (not a worker thread: node-datachannel
 * binds its classes to the first thread that loads it, so a second thread's WebRTC aborts).
 */
export function spawnNode(
  data: Record<string, unknown>,
): Promise<{ proc: NodeProcess; id: string; addrs: string[] }> {
  const child = spawn(process.execPath, [ENTRY, JSON.stringify(data)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const proc: NodeProcess = {
    postMessage: (m) => child.stdin.write(`${JSON.stringify(m)}\n`),
    once: (_event, fn) => {
      if (child.exitCode !== null || child.signalCode !== null) fn();
      else child.once('exit', fn);
    },
  };
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      lines.close();
      resolve({ proc, ...(JSON.parse(line) as { id: string; addrs: string[] }) });
    });
    child.once('exit', (code, signal) =>
      reject(
        new Error(`the ${String(data.role)} node exited (${signal ?? `code ${code}`}) before it started`),
      ),
    );
  });
}

interface LoopbackRun {
  results: Record<string, PathResult>;
  notes: string[];
}

async function runLoopback(totalBytes: number): Promise<LoopbackRun> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'pb-bench-transport-'));
  const members = new Set<string>();
  const writer = await makeNode(members, { webrtc: true, webrtcBindAddress: '127.0.0.1', iceServers: [] });
  const relay = await spawnNode({ role: 'relay', members: [] });
  const target = await spawnNode({
    role: 'target',
    members: [writer.id, relay.id],
    relayAddr: relay.addrs[0],
    dir: join(dir, 'target'),
    pledgeBytes: totalBytes + 2 * SHARD_BYTES,
  });
  const targetRef = { id: target.id, peerId: peerIdFromString(target.id) };
  const results: Record<string, PathResult> = {};
  const notes: string[] = [];
  try {
    const addrs = target.addrs.map((a) => multiaddr(a));
    const tcpAddr = addrs.find((a) => !a.toString().includes('/p2p-circuit'))!;
    const circuitAddr = addrs.find(
      (a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'),
    );
    if (circuitAddr === undefined) throw new Error('the target got no relay reservation');
    let conn = await writer.node.dial(tcpAddr);
    await onlyLink(writer.node, targetRef, conn);
    results.tcp = await measure(writer.node, targetRef, totalBytes, IN_FLIGHT);
    for (const c of writer.node.getConnections(targetRef.peerId)) await c.close();
    conn = await writer.node.dial(circuitAddr);
    await onlyLink(writer.node, targetRef, conn);
    results.relay = await measure(writer.node, targetRef, totalBytes, IN_FLIGHT);
    // With the relayed link open libp2p answers a WebRTC dial with it (and the daemon dials
    // WebRTC only where no unlimited link exists), so it is closed first.
    for (const c of writer.node.getConnections(targetRef.peerId)) await c.close();
    const rtcLink = await dialPreferringWebRTC(
      writer.node,
      addrs.filter((a) => a.toString().includes('/webrtc')),
      { attempts: 4, attemptTimeoutMs: 15_000 },
    );
    if (rtcLink.transport === 'webrtc') {
      await onlyLink(writer.node, targetRef, rtcLink.connection);
      results.webrtc = await measure(writer.node, targetRef, totalBytes, IN_FLIGHT);
    } else notes.push(`WebRTC not measured: the dial answered with a ${rtcLink.transport} link`);
  } finally {
    await writer.node.stop();
    for (const w of [relay.proc, target.proc]) {
      w.postMessage({ stop: true });
      await new Promise<void>((r) => w.once('exit', r));
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  return { results, notes };
}

const COLUMNS = ['path', 'raw MiB/s', 'put MiB/s', 'get MiB/s', 'put/raw', 'get/raw'];

function rowsOf(results: Record<string, PathResult>): Cell[][] {
  return Object.entries(results).map(([path, r]) => [
    path,
    r.rawMiBs,
    r.putMiBs,
    r.getMiBs,
    fmt(r.putMiBs / r.rawMiBs),
    fmt(r.getMiBs / r.rawMiBs),
  ]);
}

function numberArg(args: string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} ${args[i + 1]}: give a positive number`);
  return v;
}

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const totalBytes = numberArg(args, '--mib', 128) * MiB;
  IN_FLIGHT = Math.max(1, Math.min(16, Math.round(numberArg(args, '--in-flight', IN_FLIGHT))));
  const testbedOnly = hasFlag(args, '--testbed-only');
  const wanArg = args.indexOf('--wan');
  const wans = (wanArg >= 0 ? (args[wanArg + 1] ?? '') : 'none,50mbit').split(',');
  const testbeds: { wan: string; run: TestbedRun }[] = [];
  if (testbedOnly || hasFlag(args, '--testbed'))
    for (const wan of wans)
      testbeds.push({
        wan,
        run: await runTestbed({
          mib: numberArg(args, '--testbed-mib', 32),
          shardMib: numberArg(args, '--testbed-shard-mib', 4),
          inFlight: IN_FLIGHT,
          wan: wan === 'none' ? null : wan,
        }),
      });
  const loopback = testbedOnly ? { results: {}, notes: [] } : await runLoopback(totalBytes);
  const md = [
    '# Transport benchmark',
    '',
    `What pb's shard protocol (put and get through a RemoteShardStore) reaches on each path compared with a raw libp2p stream on the same link in the same run: over loopback (direct TCP, a circuit relay, WebRTC)${testbeds.length === 0 ? '' : ', and between two members behind NAT routers on a testbed of network namespaces, through the relay and over WebRTC'}. Made by \`pnpm bench transport ${args.join(' ')}\`. put/raw and get/raw are the ratios; through the relay pb aims for at least 0.5x the relayed raw stream.`,
    '',
    '## Loopback',
    '',
    `Shard put/get (${SHARD_BYTES / MiB} MiB shards, ${totalBytes / MiB} MiB per measurement, fsynced, SHA-256 verified, ${IN_FLIGHT} requests in flight) best of two rounds, against the best of two runs of a raw libp2p stream sending the same buffers on the same link, writer, relay and target each in its own process, 127.0.0.1. Target: put/get >= 0.8x raw.`,
    '',
    markdownTable(COLUMNS, rowsOf(loopback.results)),
    ...loopback.notes.map((n) => `\n${n}`),
    ...testbeds.flatMap((t) => ['', t.run.markdown(COLUMNS, rowsOf(t.run.results))]),
  ].join('\n');
  const out = {
    ...loopback.results,
    ...(testbeds.length === 0
      ? {}
      : { testbed: Object.fromEntries(testbeds.map((t) => [t.wan, t.run.json()])) }),
  };
  if (!testbedOnly) writeReport('transport', out, md);
  const text = [formatTable(COLUMNS, rowsOf(loopback.results)), ...loopback.notes];
  for (const t of testbeds)
    text.push(`testbed, wan ${t.wan}:`, formatTable(COLUMNS, rowsOf(t.run.results)), ...t.run.notes);
  console.log(json ? JSON.stringify(out) : text.join('\n'));
}
