/**
 * `StringPool`: one shared string per distinct text, for tables that hold the same ids many times
 * (shard trailers' stripe ids and owners in the holder's catalog and in kept listings). A decoded
 * string is a fresh copy each time; a pool keeps the first and hands it out again. Bounded: past
 * `maxEntries` the pool starts over (strings already handed out stay valid, only sharing pauses).
 */
export class StringPool {
  private readonly strings = new Map<string, string>();

  constructor(private readonly maxEntries: number) {
    if (!(Number.isSafeInteger(maxEntries) && maxEntries > 0))
      throw new RangeError(`StringPool: maxEntries must be a whole number above 0, got ${maxEntries}`);
  }

  /** The pool's string equal to `text` (`text` itself the first time). */
  readonly intern = (text: string): string => {
    const hit = this.strings.get(text);
    if (hit !== undefined) return hit;
    if (this.strings.size >= this.maxEntries) this.strings.clear();
    this.strings.set(text, text);
    return text;
  };

  get size(): number {
    return this.strings.size;
  }

  /** Forgets every string (those handed out stay valid). */
  clear(): void {
    this.strings.clear();
  }
}
