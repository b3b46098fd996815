/**
 * `pnpm bench group`: the group op log at 10k ops.
 *
 * - verification of 10k received ops: @noble/curves (the engine's default verifier), node:crypto
 *   on one thread, node:crypto on a pool of worker threads;
 * - the fold of 10k verified ops (placement plans and the set digest are derived lazily and timed
 *   apart: first read of each);
 * - the sync of two 10k-op replicas differing by 1% (each lacks 100 ops the other has).
 *
 * Prints a table; `--json` prints JSON; writes reports/group.json and reports/group.md.
 * Options: `--ops N` (10000), `--noble N` (ops verified with @noble, default 1000: it is slow),
 * `--threads N` (2).
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import seedrandom from 'seedrandom';
import {
  decodeCbor,
  decodeOp,
  EngineError,
  foldGroup,
  type GroupOp,
  ownerPlacement,
  reconcile,
  SIGNATURE_CONTEXT,
  syncIndex,
} from '../engine/index.ts';
import { nodeEd25519Verifier } from '../runtime/crypto/ed25519.ts';
import { VerifyPool } from '../runtime/crypto/verify-pool.ts';
import { buildHistory } from './_group-history.ts';
import { median } from './report.ts';

const NOW_MS = 1_800_000_000_000;
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a whole number >= 1`);
  return value;
}

function timeMs(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export async function run(args: string[]): Promise<void> {
  const totalOps = option(args, 'ops', 10_000);
  const nobleOps = Math.min(totalOps, option(args, 'noble', 1000));
  const threads = option(args, 'threads', 2);
  const diffOps = Math.round(totalOps / 100);

  // A history of totalOps + diffOps ops; replica A lacks diffOps of them, replica B another diffOps.
  const buildStart = performance.now();
  const history = buildHistory(totalOps + diffOps);
  const buildMs = performance.now() - buildStart;
  const ops = history.slice(0, totalOps);
  const bytes = ops.map((o) => o.bytes);

  // Verification (decodeOp: size, schema, signature).
  const nobleMs = timeMs(() => {
    for (let i = 0; i < nobleOps; i++) decodeOp(bytes[i]!);
  });
  const verify = nodeEd25519Verifier();
  const verified: GroupOp[] = [];
  // The bare node:crypto Ed25519 verify of the same signatures (keys prepared): the target speed.
  const prepared = bytes.map((b) => {
    const [payload, signature] = decodeCbor(b) as [Uint8Array, Uint8Array];
    const key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, (decodeCbor(payload) as Uint8Array[])[3]!]),
      format: 'der',
      type: 'spki',
    });
    return { message: Buffer.concat([Buffer.from(SIGNATURE_CONTEXT), payload]), signature, key };
  });
  // Interleaved by chunks of 500 ops, so both see the same load on a shared machine.
  let rawMs = 0;
  let nodeMs = 0;
  for (let from = 0; from < totalOps; from += 500) {
    const to = Math.min(totalOps, from + 500);
    rawMs += timeMs(() => {
      for (let i = from; i < to; i++) {
        const p = prepared[i]!;
        if (!cryptoVerify(null, p.message, p.key, p.signature)) throw new Error('bad signature');
      }
    });
    nodeMs += timeMs(() => {
      for (let i = from; i < to; i++) verified.push(decodeOp(bytes[i]!, { verify }));
    });
  }
  const pool = new VerifyPool(threads);
  await pool.decodeAll(bytes.slice(0, 64)); // start the workers
  const poolStart = performance.now();
  const pooled = await pool.decodeAll(bytes);
  const poolMs = performance.now() - poolStart;
  await pool.close();
  const poolOk = pooled.filter((r) => 'ok' in r).length;
  if (poolOk !== totalOps) throw new Error(`the pool verified ${poolOk} of ${totalOps} ops`);

  // Fold (verified ops only; nothing is re-verified).
  const foldRuns: number[] = [];
  let state = foldGroup(verified, NOW_MS);
  for (let i = 0; i < 15; i++) foldRuns.push(timeMs(() => (state = foldGroup(verified, NOW_MS))));
  const foldMs = median(foldRuns);
  if (state.dropped.length !== 0)
    throw new Error(`the benchmark history has ${state.dropped.length} dropped ops`);
  const digestMs = timeMs(() => state.digest);
  let plansOk = 0;
  const planFailures: string[] = [];
  const plansMs = timeMs(() => {
    for (const m of state.members) {
      try {
        const p = ownerPlacement(state, m.id);
        if (p.feasible) plansOk++;
        else planFailures.push(`infeasible: ${p.reason}`);
      } catch (e) {
        planFailures.push(e instanceof EngineError ? e.message : `crash: ${(e as Error).message}`);
      }
    }
  });

  // Sync: two replicas of totalOps ops each, differing by 1% each way.
  const random = seedrandom('pb-group-sync');
  const indexes = history.map((_, i) => i).sort(() => random() - 0.5);
  const lackA = new Set(indexes.slice(0, diffOps));
  const lackB = new Set(indexes.slice(diffOps, 2 * diffOps));
  const opsA = history.filter((_, i) => !lackA.has(i));
  const opsB = history.filter((_, i) => !lackB.has(i));
  let report = reconcile(syncIndex([]), syncIndex([]));
  const syncMs = timeMs(() => {
    report = reconcile(syncIndex(opsA.map((o) => o.hash)), syncIndex(opsB.map((o) => o.hash)));
  });
  const byHash = new Map(history.map((o) => [o.hash, o]));
  const opBytes = (hashes: string[]) => hashes.reduce((n, h) => n + byHash.get(h)!.bytes.length, 0);
  const sentOps = report.aSends.length + report.bSends.length;
  const sentOpBytes = opBytes(report.aSends) + opBytes(report.bSends);
  const missingOpBytes = [...lackA, ...lackB].reduce((n, i) => n + history[i]!.bytes.length, 0);
  const hashListBytes = (opsA.length + opsB.length) * 32;
  const meanOpBytes = bytes.reduce((n, b) => n + b.length, 0) / totalOps;

  const result = {
    machine: { cores: availableParallelism(), node: process.version },
    history: {
      ops: totalOps,
      members: state.members.length,
      removed: state.removed.length,
      meanOpBytes,
      buildMs,
    },
    verify: {
      nobleOpsPerSec: nobleOps / (nobleMs / 1000),
      nobleSampleOps: nobleOps,
      nodeOpsPerSec: totalOps / (nodeMs / 1000),
      rawNodeCryptoOpsPerSec: totalOps / (rawMs / 1000),
      poolThreads: threads,
      poolOpsPerSec: totalOps / (poolMs / 1000),
    },
    fold: {
      medianMs: foldMs,
      bestMs: Math.min(...foldRuns),
      opsPerSec: totalOps / (foldMs / 1000),
      digestFirstReadMs: digestMs,
      plansFirstReadMs: plansMs,
      plansFeasible: plansOk,
      planFailures: planFailures.length,
      planFailureSample: planFailures[0] ?? null,
    },
    sync: {
      replicaOps: opsA.length,
      missingEachWay: diffOps,
      messages: report.messages,
      messageBytes: report.messageBytes,
      opsSent: sentOps,
      opBytesSent: sentOpBytes,
      missingOpBytes,
      totalBytes: report.messageBytes + sentOpBytes,
      overheadOverMissing: (report.messageBytes + sentOpBytes) / missingOpBytes,
      hashListBaselineBytes: hashListBytes + missingOpBytes,
      ms: syncMs,
    },
  };

  const rows: [string, string, string][] = [
    [
      'verify: @noble/curves (engine default)',
      `${fmt(result.verify.nobleOpsPerSec)} ops/s`,
      `${nobleOps}-op sample`,
    ],
    [
      'verify: node:crypto, 1 thread',
      `${fmt(result.verify.nodeOpsPerSec)} ops/s`,
      `${((100 * result.verify.nodeOpsPerSec) / result.verify.rawNodeCryptoOpsPerSec).toFixed(0)}% of bare crypto.verify`,
    ],
    [
      '  bare crypto.verify (no decoding)',
      `${fmt(result.verify.rawNodeCryptoOpsPerSec)} ops/s`,
      'the target: ~8k/s/core when idle',
    ],
    [
      `verify: node:crypto, ${threads} worker threads`,
      `${fmt(result.verify.poolOpsPerSec)} ops/s`,
      `${result.machine.cores} cores, shared`,
    ],
    [
      'fold of verified ops',
      `${fmt(result.fold.opsPerSec)} ops/s`,
      `median of 15: ${foldMs.toFixed(1)} ms (best ${Math.min(...foldRuns).toFixed(1)}); target >= 100k ops/s`,
    ],
    ['  digest, first read', `${digestMs.toFixed(1)} ms`, 'lazy'],
    [
      '  placement plans, first read',
      `${plansMs.toFixed(0)} ms`,
      `lazy; ${plansOk} of ${state.members.length} owners planned, ${planFailures.length} failed`,
    ],
    [
      `sync: 2 x ${opsA.length} ops, ${diffOps} missing each way`,
      `${fmt(result.sync.totalBytes)} B`,
      `${report.messages} messages, ${fmt(report.messageBytes)} B of them + ${sentOps} ops (${fmt(sentOpBytes)} B)`,
    ],
    [
      '  vs the missing ops alone',
      `${result.sync.overheadOverMissing.toFixed(2)}x`,
      `missing ops ${fmt(missingOpBytes)} B; hash lists would be ${fmt(result.sync.hashListBaselineBytes)} B`,
    ],
  ];
  const table = formatTable(['measure', 'value', 'note'], rows);
  const md = [
    '# group op log benchmark',
    '',
    `${totalOps} ops (${state.members.length} members at the end, ${state.removed.length} removed, mean ${meanOpBytes.toFixed(0)} B/op), Node ${process.version}, ${result.machine.cores} cores shared with other work.`,
    '',
    table,
    '',
    result.fold.planFailureSample === null ? '' : `First placement failure: ${result.fold.planFailureSample}`,
    '',
  ].join('\n');
  mkdirSync('reports', { recursive: true });
  writeFileSync('reports/group.json', `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync('reports/group.md', md);
  if (args.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else console.log(table);
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

if (process.argv[1]?.endsWith('group.ts')) await run(process.argv.slice(2));
