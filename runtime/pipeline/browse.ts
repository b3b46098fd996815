/**
 * Browsing a repository's snapshots without restoring them: the list, one directory of a
 * snapshot (`ls`), paths matching a glob across every snapshot (`find`) and what changed between
 * two snapshots (`diff`). Only the stripes holding the snapshot and tree objects are read (never a
 * file's data chunks); every object is verified as in a restore. Subtrees whose tree objects are
 * identical are not read twice.
 */
import { compileGlob, GlobError } from '../../engine/index.ts';
import { PipelineError } from './errors.ts';
import { joinPath, showPath } from './path-bytes.ts';
import type { Repository } from './repository.ts';
import { findSnapshot } from './restore.ts';
import { ObjectReader } from './stripe-reader.ts';
import { decodeSnapshot, decodeTree, ENTRY_DIR, ENTRY_FILE, type TreeEntry } from './tree.ts';

/** Bound on the paths one `find` or `diff` answers with (the answer says when it stopped). */
export const MAX_LISTED_PATHS = 100_000;
/** Stripes of tree objects cached while browsing. */
const BROWSE_STRIPE_CACHE = 4;

export type EntryType = 'dir' | 'file' | 'symlink';

export interface SnapshotInfo {
  id: string;
  time: string;
  files: number;
  bytes: number;
}

export interface LsEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  mtime: string;
  /** Symlinks: where they point. */
  target?: string;
}

export interface FindMatch {
  path: string;
  type: EntryType;
  /** Ids of the snapshots holding the path, oldest first. */
  snapshots: string[];
}

export interface DiffItem {
  path: string;
  type: EntryType;
}

export interface DiffResult {
  from: string;
  to: string;
  added: DiffItem[];
  removed: DiffItem[];
  /** Content, type, mode, time or link target differ. */
  changed: (DiffItem & { what: 'content' | 'type' | 'metadata' })[];
  truncated: boolean;
}

const typeOf = (e: { type: number }): EntryType =>
  e.type === ENTRY_DIR ? 'dir' : e.type === ENTRY_FILE ? 'file' : 'symlink';
const treeKey = (ids: readonly Buffer[]): string => ids.map((id) => id.toString('hex')).join('');
const mtimeOf = (e: { mtimeSec: number; mtimeNsec: number }): string =>
  new Date(e.mtimeSec * 1000 + Math.floor(e.mtimeNsec / 1e6)).toISOString();

export function browseReader(repo: Repository): ObjectReader {
  return new ObjectReader(repo.index, repo.directory, repo.keys, BROWSE_STRIPE_CACHE);
}

export function snapshotList(repo: Repository): SnapshotInfo[] {
  return repo.index.listSnapshots().map((s) => ({
    id: s.id.toString('hex'),
    time: new Date(s.timeMs).toISOString(),
    files: s.files,
    bytes: s.bytes,
  }));
}

/** A normalised absolute path ("/a/b"), or a clear error. */
export function absolutePath(path: string): string {
  if (!path.startsWith('/'))
    throw new PipelineError(
      'invalid-argument',
      `path ${path} is not absolute (snapshots hold absolute paths)`,
    );
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new PipelineError('invalid-argument', `path ${path} contains ..`);
  return `/${parts.join('/')}`;
}

function lsEntry(path: string, e: TreeEntry): LsEntry {
  return {
    path,
    type: typeOf(e),
    size: e.type === ENTRY_FILE ? e.size : 0,
    mode: e.mode & 0o7777,
    mtime: mtimeOf(e),
    ...(e.type === ENTRY_DIR || e.type === ENTRY_FILE ? {} : { target: showPath(e.target) }),
  };
}

/**
 * One directory of a snapshot: with no path its roots; with a directory's path its entries; with
 * a file's or symlink's path that entry alone.
 */
export async function listPath(
  repo: Repository,
  reader: ObjectReader,
  snapshotArg: string,
  pathArg?: string,
): Promise<{ snapshotId: string; path: string | null; entries: LsEntry[] }> {
  const snapshotId = findSnapshot(repo, snapshotArg);
  const snapshot = decodeSnapshot(await reader.read(snapshotId));
  const id = snapshotId.toString('hex');
  const rootEntry = (r: (typeof snapshot.roots)[number]): LsEntry => ({
    ...lsEntry(showPath(r.path), r.dir),
    path: showPath(r.path),
  });
  if (pathArg === undefined) return { snapshotId: id, path: null, entries: snapshot.roots.map(rootEntry) };
  const path = absolutePath(pathArg);
  const listDir = async (dirPath: string, tree: Buffer[]): Promise<LsEntry[]> =>
    decodeTree(await reader.readAll(tree)).map((e) =>
      lsEntry(showPath(joinPath(Buffer.from(dirPath), e.name)), e),
    );
  for (const root of snapshot.roots) {
    const rootPath = showPath(root.path);
    if (path === rootPath) return { snapshotId: id, path, entries: await listDir(rootPath, root.dir.tree) };
    if (!path.startsWith(`${rootPath === '/' ? '' : rootPath}/`)) continue;
    const rest = path.slice(rootPath === '/' ? 1 : rootPath.length + 1).split('/');
    let tree = root.dir.tree;
    let here = rootPath;
    for (const [i, name] of rest.entries()) {
      const entry = decodeTree(await reader.readAll(tree)).find((e) => e.name.toString('utf8') === name);
      if (entry === undefined) break;
      here = showPath(joinPath(Buffer.from(here), entry.name));
      if (i === rest.length - 1)
        return {
          snapshotId: id,
          path,
          entries: entry.type === ENTRY_DIR ? await listDir(here, entry.tree) : [lsEntry(here, entry)],
        };
      if (entry.type !== ENTRY_DIR) break;
      tree = entry.tree;
    }
  }
  throw new PipelineError('not-found', `${path} is not in snapshot ${id.slice(0, 16)}`);
}

/** Calls `visit` for every entry below a tree (depth first); identical subtrees are read again. */
async function walkTree(
  reader: ObjectReader,
  dirPath: Buffer,
  tree: Buffer[],
  visit: (path: Buffer, e: TreeEntry) => boolean,
): Promise<void> {
  for (const e of decodeTree(await reader.readAll(tree))) {
    const path = joinPath(dirPath, e.name);
    if (!visit(path, e)) return;
    if (e.type === ENTRY_DIR) await walkTree(reader, path, e.tree, visit);
  }
}

function glob(pattern: string): (path: string) => boolean {
  try {
    return compileGlob(pattern);
  } catch (error) {
    if (error instanceof GlobError) throw new PipelineError('invalid-argument', error.message);
    throw error;
  }
}

/** Paths matching `pattern` in every snapshot, each with the snapshots that hold it. */
export async function findPaths(
  repo: Repository,
  reader: ObjectReader,
  pattern: string,
): Promise<{ pattern: string; matches: FindMatch[]; truncated: boolean }> {
  const match = glob(pattern);
  const found = new Map<string, FindMatch>();
  let truncated = false;
  // A subtree (same path, same tree objects) seen in an older snapshot gives the same matches.
  const memo = new Map<string, string[]>();
  const collect = async (dirPath: Buffer, tree: Buffer[], snap: string): Promise<string[]> => {
    const key = `${dirPath.toString('hex')}:${treeKey(tree)}`;
    const known = memo.get(key);
    if (known !== undefined) {
      for (const p of known) found.get(p)?.snapshots.push(snap);
      return known;
    }
    const here: string[] = [];
    for (const e of decodeTree(await reader.readAll(tree))) {
      const path = joinPath(dirPath, e.name);
      const shown = showPath(path);
      if (match(shown)) {
        const m = found.get(shown);
        if (m !== undefined) m.snapshots.push(snap);
        else if (found.size < MAX_LISTED_PATHS)
          found.set(shown, { path: shown, type: typeOf(e), snapshots: [snap] });
        else truncated = true;
        here.push(shown);
      }
      // A loop, not a spread: a subtree's matches can outnumber what the stack holds as arguments.
      if (e.type === ENTRY_DIR) for (const below of await collect(path, e.tree, snap)) here.push(below);
    }
    memo.set(key, here);
    return here;
  };
  for (const s of repo.index.listSnapshots()) {
    const snap = s.id.toString('hex');
    const snapshot = decodeSnapshot(await reader.read(s.id));
    for (const root of snapshot.roots) {
      const rootShown = showPath(root.path);
      if (match(rootShown)) {
        const m = found.get(rootShown);
        if (m !== undefined) m.snapshots.push(snap);
        else found.set(rootShown, { path: rootShown, type: 'dir', snapshots: [snap] });
      }
      await collect(root.path, root.dir.tree, snap);
    }
  }
  const matches = [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const m of matches) m.snapshots = [...new Set(m.snapshots)];
  return { pattern, matches, truncated };
}

function sameContent(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type === ENTRY_FILE && b.type === ENTRY_FILE)
    return a.size === b.size && treeKey(a.chunks) === treeKey(b.chunks);
  if (a.type !== ENTRY_DIR && a.type !== ENTRY_FILE && b.type !== ENTRY_DIR && b.type !== ENTRY_FILE)
    return a.target.equals(b.target);
  return true;
}

/** What was added, removed and changed from snapshot `fromArg` to `toArg`. */
export async function diffSnapshots(
  repo: Repository,
  reader: ObjectReader,
  fromArg: string,
  toArg: string,
): Promise<DiffResult> {
  const fromId = findSnapshot(repo, fromArg);
  const toId = findSnapshot(repo, toArg);
  const result: DiffResult = {
    from: fromId.toString('hex'),
    to: toId.toString('hex'),
    added: [],
    removed: [],
    changed: [],
    truncated: false,
  };
  let listed = 0;
  const room = (): boolean => {
    if (listed < MAX_LISTED_PATHS) {
      listed++;
      return true;
    }
    result.truncated = true;
    return false;
  };
  const all = async (into: DiffItem[], path: Buffer, e: TreeEntry): Promise<void> => {
    if (!room()) return;
    into.push({ path: showPath(path), type: typeOf(e) });
    if (e.type === ENTRY_DIR)
      await walkTree(reader, path, e.tree, (p, c) => {
        if (!room()) return false;
        into.push({ path: showPath(p), type: typeOf(c) });
        return true;
      });
  };
  const compare = async (dirPath: Buffer, a: Buffer[] | null, b: Buffer[] | null): Promise<void> => {
    if (a !== null && b !== null && treeKey(a) === treeKey(b)) return;
    const left = a === null ? [] : decodeTree(await reader.readAll(a));
    const right = b === null ? [] : decodeTree(await reader.readAll(b));
    const byName = new Map(left.map((e) => [e.name.toString('hex'), e]));
    for (const r of right) {
      const path = joinPath(dirPath, r.name);
      const l = byName.get(r.name.toString('hex'));
      byName.delete(r.name.toString('hex'));
      if (l === undefined) await all(result.added, path, r);
      else if (l.type !== r.type) {
        if (room()) result.changed.push({ path: showPath(path), type: typeOf(r), what: 'type' });
      } else if (r.type === ENTRY_DIR && l.type === ENTRY_DIR) await compare(path, l.tree, r.tree);
      else if (!sameContent(l, r)) {
        if (room()) result.changed.push({ path: showPath(path), type: typeOf(r), what: 'content' });
      } else if (l.mode !== r.mode || l.mtimeSec !== r.mtimeSec || l.mtimeNsec !== r.mtimeNsec) {
        if (room()) result.changed.push({ path: showPath(path), type: typeOf(r), what: 'metadata' });
      }
    }
    for (const l of byName.values()) await all(result.removed, joinPath(dirPath, l.name), l);
  };
  const from = decodeSnapshot(await reader.read(fromId));
  const to = decodeSnapshot(await reader.read(toId));
  const fromRoots = new Map(from.roots.map((r) => [r.path.toString('hex'), r]));
  for (const r of to.roots) {
    const l = fromRoots.get(r.path.toString('hex'));
    fromRoots.delete(r.path.toString('hex'));
    if (l === undefined) await all(result.added, r.path, r.dir);
    else await compare(r.path, l.dir.tree, r.dir.tree);
  }
  for (const l of fromRoots.values()) await all(result.removed, l.path, l.dir);
  return result;
}
