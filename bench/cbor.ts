/**
 * `pnpm bench cbor [--json]`: the two CBOR codecs on the metadata pb writes (docs/design.md §14).
 *
 * pb-cbor (`engine/group/cbor.ts`, the strict subset of ops and wire messages) against cbor-x (the
 * encoder `runtime/pipeline/tree.ts` uses for trees and snapshots, same options) on tree encodings
 * of the shapes the scanner writes: small and large directories of one-chunk files, and one large
 * file's chunk list. For each: the encoded size under both (and whether the bytes are equal), and
 * encode and decode time per tree, best of interleaved rounds. Writes reports/cbor.json and .md.
 */
import { createHash } from 'node:crypto';
import { Encoder } from 'cbor-x';
import { type CborValue, decodeCbor, encodeCbor } from '../engine/index.ts';
import {
  decodeTree,
  ENTRY_DIR,
  ENTRY_FILE,
  encodeSnapshot,
  encodeTree,
  type TreeEntry,
} from '../runtime/pipeline/tree.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const cborX = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const ROUNDS = 7;
/** Each timed batch encodes or decodes about this many bytes, so small trees are not timer noise. */
const BATCH_BYTES = 4 * 1024 * 1024;

function id(seed: string): Buffer {
  return createHash('sha256').update(seed).digest();
}

/** A directory of `files` one-chunk files and `dirs` subdirectories, names like a source tree's. */
function directory(files: number, dirs: number, chunksPerFile = 1): TreeEntry[] {
  const meta = (name: string, i: number) => ({
    name: Buffer.from(name),
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    mtimeSec: 1_760_000_000 + i * 37,
    mtimeNsec: (i * 7_919_993) % 1_000_000_000,
  });
  const entries: TreeEntry[] = [];
  for (let i = 0; i < dirs; i++)
    entries.push({ ...meta(`dir-${i}`, i), mode: 0o40755, type: ENTRY_DIR, tree: [id(`d${i}`)] });
  for (let i = 0; i < files; i++) {
    const chunks = Array.from({ length: chunksPerFile }, (_, c) => id(`f${i}/${c}`));
    entries.push({
      ...meta(`file-${String(i).padStart(5, '0')}.${['c', 'h', 'py', 'md'][i % 4]}`, i),
      type: ENTRY_FILE,
      size: 1 + ((i * 104_729) % 900_000) + (chunksPerFile - 1) * 1_048_576,
      chunks,
      flags: 0,
    });
  }
  return entries.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** The same value tree.ts hands to cbor-x, for pb-cbor. */
function treeValue(entries: readonly TreeEntry[]): CborValue {
  const meta = (e: TreeEntry): CborValue[] => [e.name, e.mode, e.uid, e.gid, e.mtimeSec, e.mtimeNsec];
  return [
    1,
    entries.map((e): CborValue[] => {
      if (e.type === ENTRY_DIR) return [ENTRY_DIR, ...meta(e), e.tree];
      if (e.type === ENTRY_FILE) return [ENTRY_FILE, ...meta(e), e.size, e.chunks, e.flags];
      return [2, ...meta(e), e.target];
    }),
  ];
}

/** Best time of ROUNDS for `fn` run `n` times, in microseconds per call. */
function bestMicros(n: number, fns: (() => unknown)[]): number[] {
  const best = fns.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < ROUNDS; r++) {
    fns.forEach((fn, f) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) fn();
      best[f] = Math.min(best[f]!, ((performance.now() - start) * 1000) / n);
    });
  }
  return best;
}

const CASES: { name: string; entries: TreeEntry[] }[] = [
  { name: '10 files', entries: directory(10, 2) },
  { name: '1,000 files', entries: directory(1000, 20) },
  { name: '10,000 files', entries: directory(10_000, 100) },
  { name: 'one file of 4,000 chunks', entries: directory(1, 0, 4000) },
  { name: 'one 5 GiB file (size >= 2^32)', entries: directory(1, 0, 5000) },
];

/** Whether pb-cbor reads what cbor-x wrote, or why not. */
function pbCborReads(bytes: Uint8Array): string {
  try {
    decodeCbor(bytes, 'encoding');
    return 'yes';
  } catch (error) {
    return (error as Error).message;
  }
}

/** A snapshot as the scanner writes it: one root, the time in ms since 1970 (above 2^32). */
function snapshotCheck(): { bytes: number; pbCborReads: string } {
  const root = directory(0, 1)[0]!;
  if (root.type !== ENTRY_DIR) throw new Error('expected a directory entry');
  const bytes = encodeSnapshot({
    timeMs: 1_760_000_000_123,
    host: 'anna-laptop',
    roots: [{ path: Buffer.from('/home/anna/Documents'), dir: root }],
    files: 14_000,
    bytes: 297_000_000,
    warnings: [],
  });
  return { bytes: bytes.length, pbCborReads: pbCborReads(bytes) };
}

export async function run(args: string[]): Promise<void> {
  const rows: Record<string, number | string | boolean>[] = [];
  for (const c of CASES) {
    const value = treeValue(c.entries);
    const viaX = encodeTree(c.entries);
    const viaPb = encodeCbor(value);
    const n = Math.max(1, Math.round(BATCH_BYTES / viaX.length));
    const [encX, encPb] = bestMicros(n, [() => cborX.encode(value), () => encodeCbor(value)]);
    const [decX, decPb, decTree] = bestMicros(n, [
      () => cborX.decode(viaX),
      () => decodeCbor(viaPb, 'tree'),
      () => decodeTree(viaX),
    ]);
    rows.push({
      case: c.name,
      bytes: viaX.length,
      pbCborBytes: viaPb.length,
      sameBytes: Buffer.compare(viaX, Buffer.from(viaPb)) === 0,
      pbCborReadsCborX: pbCborReads(viaX),
      encodeCborXUs: fmt(encX!),
      encodePbCborUs: fmt(encPb!),
      decodeCborXUs: fmt(decX!),
      decodePbCborUs: fmt(decPb!),
      decodeTreeUs: fmt(decTree!),
    });
  }
  const columns = [
    'case',
    'bytes',
    'same bytes',
    'encode cbor-x µs',
    'encode pb-cbor µs',
    'decode cbor-x µs',
    'decode pb-cbor µs',
    'decodeTree (cbor-x + checks) µs',
  ];
  const cells: Cell[][] = rows.map((r) => [
    r.case as string,
    r.bytes as number,
    r.sameBytes as boolean,
    r.encodeCborXUs as number,
    r.encodePbCborUs as number,
    r.decodeCborXUs as number,
    r.decodePbCborUs as number,
    r.decodeTreeUs as number,
  ]);
  const snapshot = snapshotCheck();
  const result = { node: process.version, rounds: ROUNDS, rows, snapshot };
  const readable = rows.map((r) => `- ${r.case}: pb-cbor reads the cbor-x bytes: ${r.pbCborReadsCborX}`);
  const markdown =
    '# CBOR codecs on tree encodings\n\n' +
    `\`pnpm bench cbor\`, Node ${process.version}, best of ${ROUNDS} interleaved rounds, one thread on a shared host.\n\n` +
    `${markdownTable(columns, cells)}\n\n${readable.join('\n')}\n` +
    `- a snapshot (${snapshot.bytes} bytes): pb-cbor reads the cbor-x bytes: ${snapshot.pbCborReads}\n`;
  writeReport('cbor', result, markdown);
  if (hasFlag(args, '--json')) console.log(JSON.stringify(result, null, 2));
  else console.log(`${formatTable(columns, cells)}\n\n${markdown.split('\n\n').at(-1)}`);
}
