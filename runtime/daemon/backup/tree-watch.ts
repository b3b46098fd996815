/**
 * "Something changed under these directories", without a thread of its own: one `fs.watch` per
 * directory (on Linux an inotify watch, read by libuv in the daemon's own event loop), kept in
 * step with the tree as directories come and go.
 *
 * Why not @parcel/watcher, used before: its Linux backend thread wakes every 500 ms (a `poll`
 * with a fixed timeout, whatever happens), which cost an idle owner about 0.06 % of a core, a
 * third of the idle budget (docs/design.md, Idle cost). What is asked of a watcher here is small
 * (any change starts a debounced backup, which finds what changed itself), so events carry no
 * detail: every event under a root calls `onChange`.
 *
 * Bounds: at most `maxDirectories` directories are watched (beyond that, changes deeper in the
 * tree are found by the scheduled backups, and `onError` says so once); a walk reads at most
 * `maxDirectories` directories too. The kernel's own limit (inotify's max_user_watches) stops the
 * watching the same way, with its name in the message. Symbolic links are not followed, as the
 * backup does not follow them. Paths in `ignore` (the data directory) and everything under them
 * are neither watched nor reported.
 *
 * Where `fs.watch` is natively recursive (macOS's FSEvents, Windows), one recursive watch per
 * root does it all: there a watch per directory would cost a file descriptor each (kqueue).
 *
 * A root that is missing (at the start, or removed later: a restore in place, a disk not mounted
 * yet) is looked for again every `rootRetryMs` until it is back; a root removed and made again is
 * a new directory, whose watch must be new too (a watch follows the inode, not the path). When a
 * root is back its tree is watched again and `onChange` runs: what is in it is backed up. The
 * timer runs only while a root is missing.
 */
import * as fs from 'node:fs';
import { join, sep } from 'node:path';

export const MAX_WATCHED_TREE_DIRECTORIES = 50_000;
/** A missing root is looked for this often. */
export const ROOT_RETRY_MS = 30_000;
/** Platforms whose `fs.watch` watches a whole tree itself. */
export const NATIVE_RECURSIVE_WATCH = process.platform === 'darwin' || process.platform === 'win32';

export interface TreeWatchOptions {
  ignore: readonly string[];
  onChange: () => void;
  onError: (error: Error) => void;
  maxDirectories?: number;
  /** One recursive `fs.watch` per root (default: NATIVE_RECURSIVE_WATCH). */
  recursive?: boolean;
  /** How often a missing root is looked for (default ROOT_RETRY_MS). */
  rootRetryMs?: number;
}

/** A root added: the inode its watch follows (null while it is missing), and whether a check runs. */
interface Root {
  ino: bigint | null;
  checking: boolean;
}

export class TreeWatch {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private readonly maxDirectories: number;
  private full = false;
  private closed = false;
  private readonly roots = new Map<string, Root>();
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: TreeWatchOptions) {
    this.maxDirectories = options.maxDirectories ?? MAX_WATCHED_TREE_DIRECTORIES;
    if (!(this.maxDirectories >= 1)) throw new RangeError('a tree watch needs maxDirectories >= 1');
  }

  /** Directories watched now. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Watches `root` and every directory under it; throws when `root` itself cannot be watched (a
   * missing one is looked for again until it is there).
   */
  async add(root: string): Promise<void> {
    if (!this.roots.has(root)) this.roots.set(root, { ino: null, checking: false });
    try {
      await this.attach(root);
    } catch (error) {
      this.retrySoon();
      throw error;
    }
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private async attach(root: string): Promise<void> {
    const st = await fs.promises.stat(root, { bigint: true });
    if (!st.isDirectory()) throw new Error(`${root} is not a directory`);
    this.roots.get(root)!.ino = st.ino;
    if (this.options.recursive ?? NATIVE_RECURSIVE_WATCH) {
      this.watchWhole(root);
      return;
    }
    if (!this.watch(root)) throw new Error('the bound on watched directories is reached');
    await this.walk(root);
  }

  /** After an entry of a root came or went: is the root still the directory its watch follows? */
  private checkRoot(root: string): void {
    const r = this.roots.get(root);
    if (r === undefined || r.ino === null || r.checking || this.closed) return;
    r.checking = true;
    void fs.promises
      .stat(root, { bigint: true })
      .then(
        (st) => st.isDirectory() && st.ino === r.ino,
        () => false,
      )
      .then((same) => {
        r.checking = false;
        if (!same) this.lost(root);
      });
  }

  /** The root's watch follows a directory that is gone: drop it and look for the root again. */
  private lost(root: string): void {
    const r = this.roots.get(root);
    if (r === undefined || this.closed) return;
    r.ino = null;
    this.unwatch(root);
    void this.reattach(root);
  }

  private async reattach(root: string): Promise<void> {
    if (this.closed) return;
    try {
      await this.attach(root);
      this.options.onChange();
    } catch {
      if (!this.full) this.retrySoon();
    }
  }

  private retrySoon(): void {
    if (this.retryTimer !== null || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      for (const [root, r] of this.roots) if (r.ino === null) void this.reattach(root);
    }, this.options.rootRetryMs ?? ROOT_RETRY_MS);
    this.retryTimer.unref();
  }

  private ignored(path: string): boolean {
    return this.options.ignore.some((p) => path === p || path.startsWith(p.endsWith(sep) ? p : p + sep));
  }

  /** One directory's watch; false when the bound (ours or the kernel's) is reached. */
  private watch(dir: string): boolean {
    if (this.closed || this.watchers.has(dir)) return true;
    if (this.watchers.size >= this.maxDirectories) {
      this.fullUp(`more than ${this.maxDirectories} directories`);
      return false;
    }
    let w: fs.FSWatcher;
    try {
      w = fs.watch(dir, { persistent: false }, (event, name) => this.event(dir, event, name));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE')
        this.fullUp(
          `the system's limit on watches (${code}; Linux: fs.inotify.max_user_watches) after ${this.watchers.size} directories`,
        );
      else if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EACCES')
        this.options.onError(new Error(`cannot watch ${dir}: ${(error as Error).message}`));
      return code !== 'ENOSPC' && code !== 'EMFILE';
    }
    // The directory went away under its watch.
    w.on('error', () => (this.roots.has(dir) ? this.lost(dir) : this.unwatch(dir)));
    this.watchers.set(dir, w);
    return true;
  }

  /** The platform watches the tree: events name paths relative to the root. */
  private watchWhole(root: string): void {
    if (this.closed || this.watchers.has(root)) return;
    const w = fs.watch(root, { persistent: false, recursive: true }, (event, name) => {
      if (this.closed) return;
      const path = name === null ? root : join(root, name.toString());
      if (!this.ignored(path)) this.options.onChange();
      if (event === 'rename') this.checkRoot(root);
    });
    w.on('error', (error) => {
      this.options.onError(new Error(`watching ${root}: ${error.message}`));
      this.lost(root);
    });
    this.watchers.set(root, w);
  }

  private fullUp(why: string): void {
    if (this.full) return;
    this.full = true;
    this.options.onError(
      new Error(`watching stopped at ${why}: changes in the rest are found by the scheduled backups`),
    );
  }

  private unwatch(dir: string): void {
    for (const [path, w] of this.watchers)
      if (path === dir || path.startsWith(dir + sep)) {
        w.close();
        this.watchers.delete(path);
      }
  }

  private event(dir: string, event: string, name: string | Buffer | null): void {
    if (this.closed) return;
    const path = name === null ? dir : join(dir, name.toString());
    if (this.ignored(path)) return;
    this.options.onChange();
    // A new, moved or removed entry: keep the watches in step with the tree.
    if (event === 'rename' && name !== null) void this.follow(path);
    if (event === 'rename') this.checkRoot(dir);
  }

  private async follow(path: string): Promise<void> {
    let isDir = false;
    try {
      isDir = (await fs.promises.lstat(path)).isDirectory();
    } catch {} // gone
    // A file's event (the common case: every write) costs a map lookup, not a scan of the
    // watches; only a watched directory has watched directories under it.
    if (!isDir) {
      if (this.watchers.has(path)) this.unwatch(path);
    } else if (!this.watchers.has(path) && this.watch(path)) await this.walk(path);
  }

  /** Watches the directories under `root` (breadth first; every queued one is watched, so bounded). */
  private async walk(root: string): Promise<void> {
    const queue = [root];
    for (let next = 0; next < queue.length && !this.closed && !this.full; next++) {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(queue[next]!, { withFileTypes: true });
      } catch {
        continue; // gone or unreadable meanwhile: the backup reports what it cannot read
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const sub = join(queue[next]!, e.name);
        if (this.ignored(sub)) continue;
        if (!this.watch(sub)) return;
        queue.push(sub);
      }
    }
  }
}
