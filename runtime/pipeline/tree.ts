/**
 * Tree and snapshot objects (docs/formats.md, "Trees" and "Snapshots"): CBOR arrays (cbor-x,
 * no records), positional fields, version first. Names and symlink targets are raw bytes, so
 * names that are not valid UTF-8 survive. Decoding checks every field before use.
 *
 * A tree (one directory's entries, sorted by name bytes) is stored like file content: its
 * encoding is cut by FastCDC and each piece is an object; a directory entry names the list of
 * object ids whose plaintexts, concatenated, are the subtree's encoding.
 */
import { Encoder } from 'cbor-x';
import { PipelineError } from './errors.ts';

/** Version 2 added a file's link identity; version 1 trees (no links) still decode. */
export const TREE_VERSION = 2;
const TREE_VERSIONS_READ = [1, 2];
/** Version 2 added the member's config text; version 1 snapshots (no config) still decode. */
export const SNAPSHOT_VERSION = 2;
/** Bound on the config text a snapshot carries (the config file's own bound). */
export const MAX_SNAPSHOT_CONFIG_BYTES = 1024 * 1024;
export const MAX_TREE_ENTRIES = 1_000_000;
export const MAX_CHUNKS_PER_ENTRY = 16_000_000;
export const MAX_NAME_BYTES = 4096;
export const MAX_METADATA_BYTES = 512 * 1024 * 1024;

const cbor = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

export const ENTRY_DIR = 0;
export const ENTRY_FILE = 1;
export const ENTRY_SYMLINK = 2;

/** Flag on a file entry: the file kept changing while it was read; its content may be torn. */
export const FILE_FLAG_TORN = 1;
/** A file's link identity when it has no other link (and in version 1 trees). */
export const NO_LINK: Buffer = Buffer.alloc(0);
/** A file's link identity is its device and inode (two big-endian u64): equal ones are one file. */
export const LINK_BYTES = 16;

export interface EntryMeta {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
}

export type TreeEntry =
  | (EntryMeta & { type: typeof ENTRY_DIR; tree: Buffer[] })
  | (EntryMeta & {
      type: typeof ENTRY_FILE;
      size: number;
      chunks: Buffer[];
      flags: number;
      /** NO_LINK (or absent), or LINK_BYTES naming the inode this file shares with other links. */
      link?: Buffer;
    })
  | (EntryMeta & { type: typeof ENTRY_SYMLINK; target: Buffer });

export interface SnapshotRoot {
  /** Absolute path of the backed-up directory (bytes). */
  path: Buffer;
  dir: EntryMeta & { type: typeof ENTRY_DIR; tree: Buffer[] };
}

export interface Snapshot {
  timeMs: number;
  host: string;
  roots: SnapshotRoot[];
  files: number;
  bytes: number;
  /** Problems met during the scan (permission denied, torn files), human-readable. */
  warnings: string[];
  /** The member's config file as it was (daemon mode), so a recovery keeps the settings. */
  config?: string | null;
}

function bad(what: string): PipelineError {
  return new PipelineError('corrupt', `metadata object: ${what}`);
}

function uint(x: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > max)
    throw bad(`${what} is not a valid integer`);
  return x;
}

function bytes(x: unknown, what: string, max: number): Buffer {
  if (!(x instanceof Uint8Array)) throw bad(`${what} is not a byte string`);
  if (x.length > max) throw bad(`${what} is ${x.length} bytes, over ${max}`);
  return Buffer.from(x.buffer, x.byteOffset, x.length);
}

function idList(x: unknown, what: string): Buffer[] {
  if (!Array.isArray(x) || x.length > MAX_CHUNKS_PER_ENTRY) throw bad(`${what} is not a list of object ids`);
  return x.map((id, i) => {
    const b = bytes(id, `${what}[${i}]`, 32);
    if (b.length !== 32) throw bad(`${what}[${i}] is not 32 bytes`);
    return b;
  });
}

export function validName(name: Buffer): boolean {
  if (name.length === 0 || name.length > MAX_NAME_BYTES) return false;
  if (name.includes(0x2f) || name.includes(0)) return false;
  return !(name.equals(Buffer.from('.')) || name.equals(Buffer.from('..')));
}

function metaFields(e: EntryMeta): unknown[] {
  return [e.name, e.mode, e.uid, e.gid, e.mtimeSec, e.mtimeNsec];
}

function decodeMeta(a: unknown[], what: string): EntryMeta {
  const name = bytes(a[1], `${what} name`, MAX_NAME_BYTES);
  return {
    name,
    mode: uint(a[2], `${what} mode`, 0xffffffff),
    uid: uint(a[3], `${what} uid`, 0xffffffff),
    gid: uint(a[4], `${what} gid`, 0xffffffff),
    mtimeSec: uint(a[5], `${what} mtime seconds`),
    mtimeNsec: uint(a[6], `${what} mtime nanoseconds`, 999_999_999),
  };
}

export function encodeTree(entries: readonly TreeEntry[]): Buffer {
  const rows = entries.map((e): unknown[] => {
    if (e.type === ENTRY_DIR) return [ENTRY_DIR, ...metaFields(e), e.tree];
    if (e.type === ENTRY_FILE)
      return [ENTRY_FILE, ...metaFields(e), e.size, e.chunks, e.flags, e.link ?? NO_LINK];
    return [ENTRY_SYMLINK, ...metaFields(e), e.target];
  });
  return Buffer.from(cbor.encode([TREE_VERSION, rows]));
}

function decodeCbor(data: Uint8Array, what: string): unknown {
  if (data.length > MAX_METADATA_BYTES) throw bad(`${what} is ${data.length} bytes`);
  try {
    return cbor.decode(data);
  } catch (error) {
    throw new PipelineError('corrupt', `${what} is not valid CBOR: ${String(error)}`);
  }
}

export function decodeTree(data: Uint8Array): TreeEntry[] {
  const top = decodeCbor(data, 'tree');
  if (!Array.isArray(top) || top.length !== 2) throw bad('tree is not [version, entries]');
  const version = top[0];
  if (typeof version !== 'number' || !TREE_VERSIONS_READ.includes(version))
    throw bad(`unsupported tree version ${String(version)}`);
  const fileFields = version === 1 ? 10 : 11;
  const rows = top[1];
  if (!Array.isArray(rows) || rows.length > MAX_TREE_ENTRIES)
    throw bad('tree entries are not a bounded list');
  let previous: Buffer | null = null;
  return rows.map((row, i): TreeEntry => {
    if (!Array.isArray(row)) throw bad(`tree entry ${i} is not a list`);
    const what = `tree entry ${i}`;
    const meta = decodeMeta(row, what);
    if (!validName(meta.name)) throw bad(`${what} has an invalid name`);
    if (previous && Buffer.compare(previous, meta.name) >= 0)
      throw bad(`${what} is out of order or duplicated`);
    previous = meta.name;
    switch (row[0]) {
      case ENTRY_DIR:
        if (row.length !== 8) throw bad(`${what}: a directory has 8 fields`);
        return { type: ENTRY_DIR, ...meta, tree: idList(row[7], `${what} tree`) };
      case ENTRY_FILE: {
        if (row.length !== fileFields) throw bad(`${what}: a file has ${fileFields} fields`);
        const link = version === 1 ? NO_LINK : bytes(row[10], `${what} link`, LINK_BYTES);
        if (link.length !== 0 && link.length !== LINK_BYTES) throw bad(`${what} link is not 0 or 16 bytes`);
        return {
          type: ENTRY_FILE,
          ...meta,
          size: uint(row[7], `${what} size`),
          chunks: idList(row[8], `${what} chunks`),
          flags: uint(row[9], `${what} flags`, 0xff),
          link,
        };
      }
      case ENTRY_SYMLINK:
        if (row.length !== 8) throw bad(`${what}: a symlink has 8 fields`);
        return { type: ENTRY_SYMLINK, ...meta, target: bytes(row[7], `${what} target`, 65536) };
      default:
        throw bad(`${what} has unknown type ${String(row[0])}`);
    }
  });
}

export function encodeSnapshot(s: Snapshot): Buffer {
  return Buffer.from(
    cbor.encode([
      SNAPSHOT_VERSION,
      s.timeMs,
      s.host,
      s.roots.map((r) => [r.path, [ENTRY_DIR, ...metaFields(r.dir), r.dir.tree]]),
      s.files,
      s.bytes,
      s.warnings,
      s.config ?? null,
    ]),
  );
}

export function decodeSnapshot(data: Uint8Array): Snapshot {
  const top = decodeCbor(data, 'snapshot');
  if (!Array.isArray(top) || (top[0] !== 1 && top[0] !== 2))
    throw bad(`unsupported snapshot version ${String(Array.isArray(top) ? top[0] : top)}`);
  const fields = top[0] === 1 ? 7 : 8;
  if (top.length !== fields) throw bad(`snapshot version ${top[0]} is not a ${fields}-field list`);
  const config = fields === 8 ? top[7] : null;
  if (config !== null && (typeof config !== 'string' || config.length > MAX_SNAPSHOT_CONFIG_BYTES))
    throw bad('snapshot config is not a bounded text');
  if (typeof top[2] !== 'string' || top[2].length > 1024) throw bad('snapshot host');
  if (!Array.isArray(top[3]) || top[3].length > 10_000) throw bad('snapshot roots');
  if (!Array.isArray(top[6]) || top[6].length > 100_000 || !top[6].every((w) => typeof w === 'string')) {
    throw bad('snapshot warnings');
  }
  return {
    timeMs: uint(top[1], 'snapshot time'),
    host: top[2],
    roots: top[3].map((r: unknown, i: number) => {
      if (
        !Array.isArray(r) ||
        r.length !== 2 ||
        !Array.isArray(r[1]) ||
        r[1].length !== 8 ||
        r[1][0] !== ENTRY_DIR
      ) {
        throw bad(`snapshot root ${i}`);
      }
      const path = bytes(r[0], `snapshot root ${i} path`, 65536);
      if (path[0] !== 0x2f) throw bad(`snapshot root ${i} path is not absolute`);
      const meta = decodeMeta(r[1], `snapshot root ${i}`);
      return { path, dir: { type: ENTRY_DIR, ...meta, tree: idList(r[1][7], `snapshot root ${i} tree`) } };
    }),
    files: uint(top[4], 'snapshot files'),
    bytes: uint(top[5], 'snapshot bytes'),
    warnings: top[6] as string[],
    config: config as string | null,
  };
}
