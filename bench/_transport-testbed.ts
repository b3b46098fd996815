/**
 * `pnpm bench transport --testbed`: the transport measurements between two members behind home
 * routers, on the namespace testbed of the NAT tests (test/nat/_testbed.ts): an internet bridge, a
 * public host with the relay and a STUN server, and two homes whose routers MASQUERADE and drop
 * unsolicited packets, both members at 192.168.1.10. The target member lives in home a; the
 * measuring member in home b, a fresh process per path (bench/_transport-writer.ts), so the
 * WebRTC dial starts with no relayed link to the target open and a crash in one path's process
 * is reported as that path not measured. Where the testbed cannot be built (no root, no `ip
 * netns`, no coturn) the run says why and measures nothing.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMBER_PORT, PUBLIC_IP, RELAY_PORT, Testbed, testbedUnavailable } from '../test/nat/_testbed.ts';
import { benchMemberId, type PathResult } from './_transport-measure.ts';
import type { NodeInit } from './_transport-node.ts';
import type { WriterAnswer, WriterInit } from './_transport-writer.ts';
import { type Cell, markdownTable } from './report.ts';

const ENTRY = new URL('./_transport-worker.mjs', import.meta.url).pathname;
/** Bound on a node's start (its first answer line) and on one path's whole measurement. */
const START_TIMEOUT_MS = 60_000;
const PATH_TIMEOUT_MS = 15 * 60_000;
const PATHS = ['relay', 'webrtc'] as const;

export interface TestbedOptions {
  /** MiB per measurement (rounded to whole shards). */
  mib: number;
  /** Shard size in MiB (the daemon's are about 4 MiB: a stripe's data per data shard). */
  shardMib: number;
  inFlight: number;
  /** A rate for every home link, each way (e.g. `50mbit`, tc tbf), or null: unshaped. */
  wan: string | null;
}

export interface TestbedRun {
  results: Record<string, PathResult>;
  notes: string[];
  markdown(columns: readonly string[], rows: readonly Cell[][]): string;
  json(): unknown;
}

interface Proc {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(bed: Testbed, ns: string, init: NodeInit | WriterInit): Proc {
  const child = bed.spawnIn(ns, process.execPath, [ENTRY, JSON.stringify(init)]);
  const lines: string[] = [];
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.startsWith('{')));
  });
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, stderr: () => err, exited };
}

/** The process's first JSON line, or an error naming why none came (it died, or the bound). */
async function firstLine(p: Proc, what: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  let ended: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void p.exited.then((e) => {
    ended = e;
  });
  while (p.lines.length === 0) {
    if (ended !== null) {
      const e = ended as { code: number | null; signal: NodeJS.Signals | null };
      throw new Error(
        `${what} exited (${e.signal ?? `code ${e.code}`}) without an answer: ${p.stderr().trim()}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`${what} gave no answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return JSON.parse(p.lines[0]!);
}

async function measurePath(bed: Testbed, init: WriterInit): Promise<WriterAnswer> {
  const p = start(bed, bed.home('b').ns, init);
  try {
    return (await firstLine(p, `the ${init.path} writer`, PATH_TIMEOUT_MS)) as WriterAnswer;
  } catch (error) {
    return { path: init.path, notMeasured: (error as Error).message.replace(/\s+/g, ' ').slice(0, 600) };
  } finally {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
}

function parseWan(wan: string): string {
  if (!/^\d+(\.\d+)?[kmg]?bit$/.test(wan))
    throw new Error(`--wan ${wan}: give a rate as tc understands it, e.g. 50mbit`);
  return wan;
}

export async function runTestbed(options: TestbedOptions): Promise<TestbedRun> {
  const results: Record<string, PathResult> = {};
  const notes: string[] = [];
  const shape = options.wan === null ? null : parseWan(options.wan);
  const shards = Math.max(1, Math.round(options.mib / options.shardMib));
  const describe = (): string =>
    [
      `## Across the NAT testbed, ${shape === null ? 'links unshaped' : `home lines at ${shape}`}`,
      '',
      `Two members, each behind its own home router (network namespaces; the routers MASQUERADE and drop unsolicited packets; both members at 192.168.1.10), a public host with the circuit relay (a pb relay node: the same libp2p relay service and limits as \`pb-node relay\`, without its group-membership check) and a STUN server (coturn). ${
        shape === null
          ? 'Links unshaped: veth pairs, so the numbers are bounded by this machine (2 cores running the relay, both members and their crypto), not by a line.'
          : `Every home line shaped to ${shape} each way (uplink and downlink) by a token bucket (tc tbf, queueing at most 50 ms), so a relayed byte crosses two home lines; no added delay (netem is missing from this kernel), so round trips are the machine's own.`
      } The target member runs in home a; the measuring member in home b, a fresh process for each path. relay: the writer dials the target's relay-circuit address. webrtc: the writer dials the target's WebRTC address (signalled through the relay, ICE with STUN) and measures on the WebRTC link only. Per path: ${shards * options.shardMib} MiB in ${options.shardMib} MiB shards (the size the daemon's stripes give), put/get with ${options.inFlight} requests in flight against a raw libp2p stream through the same link (best of two each), fsynced and SHA-256 verified.`,
    ].join('\n');
  const run: TestbedRun = {
    results,
    notes,
    markdown: (columns, rows) =>
      [
        describe(),
        '',
        rows.length > 0 ? markdownTable(columns, rows) : '',
        ...notes.map((n) => `\n${n}`),
      ].join('\n'),
    json: () => ({
      wan: options.wan,
      mib: shards * options.shardMib,
      shardMib: options.shardMib,
      paths: results,
      notes,
    }),
  };
  const unavailable = testbedUnavailable();
  if (unavailable !== null) {
    notes.push(`Testbed not measured: ${unavailable}.`);
    return run;
  }
  const root = fs.mkdtempSync(join(tmpdir(), 'pb-bench-nat-'));
  const bed = new Testbed(root);
  try {
    bed.build([{ name: 'a' }, { name: 'b' }]);
    if (shape !== null) bed.shapeHomes(shape);
    const stun = await bed.startStun();
    const relay = start(bed, bed.pub, {
      role: 'relay',
      members: [],
      listen: [`/ip4/${PUBLIC_IP}/tcp/${RELAY_PORT}`],
    });
    const relayId = ((await firstLine(relay, 'the relay', START_TIMEOUT_MS)) as { id: string }).id;
    const seeds = Object.fromEntries(PATHS.map((p) => [p, randomBytes(32)]));
    const target = start(bed, bed.home('a').ns, {
      role: 'target',
      members: PATHS.map((p) => benchMemberId(seeds[p]!)),
      relayAddr: `/ip4/${PUBLIC_IP}/tcp/${RELAY_PORT}/p2p/${relayId}`,
      dir: join(root, 'target'),
      pledgeBytes: (shards + 2) * options.shardMib * 1024 * 1024,
      listen: [`/ip4/0.0.0.0/tcp/${MEMBER_PORT}`, '/p2p-circuit', '/webrtc'],
      iceServers: [{ urls: stun }],
      webrtcBindAddress: null,
    });
    const t = (await firstLine(target, 'the target member', START_TIMEOUT_MS)) as {
      id: string;
      addrs: string[];
    };
    if (!t.addrs.some((a) => a.includes('/p2p-circuit')))
      throw new Error(`the target got no relay reservation: ${t.addrs.join(' ')}`);
    for (const path of PATHS) {
      const answer = await measurePath(bed, {
        role: 'writer',
        path,
        seedHex: seeds[path]!.toString('hex'),
        targetId: t.id,
        targetAddrs: t.addrs,
        iceServers: [{ urls: stun }],
        mib: shards * options.shardMib,
        shardMib: options.shardMib,
        inFlight: options.inFlight,
      });
      if ('result' in answer) results[path] = answer.result;
      else notes.push(`${path} not measured: ${answer.notMeasured}`);
    }
  } finally {
    await bed.teardown();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return run;
}
