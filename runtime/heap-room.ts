/**
 * Load right after the polyfills in every entry point: gives V8's old generation room to grow
 * (`--heap-growing-percent`, process-wide, so worker threads get it too).
 *
 * Why: pb's heaps are small (a member's daemon holds about 16 MiB of objects) while its traffic
 * is large buffers (shards read, frames sealed and opened). V8 sets the next collection's limit a
 * little above a small heap, and starts marking as soon as the room left is less than the young
 * generation's, which busy buffer traffic grows to 16-32 MiB. A member serving a restore then ran
 * a full collection every 0.3 s, each freeing about 1 MiB: 90 of them in one benchmark run, 1.2 s
 * of its main thread and more on V8's helper threads. With the limit at four times the live heap,
 * the same run had 5; the group's backup and restore took a quarter less CPU (docs/design.md
 * §6.3). What it costs: a busy process's old generation may reach four times its live size
 * before it is collected (tens of MiB here); an idle daemon's heap is trimmed after each burst
 * (daemon/memory-trim.ts).
 */
import { setFlagsFromString } from 'node:v8';

/** Each collection's limit for the next: the live old generation times (1 + this / 100). */
export const HEAP_GROWING_PERCENT = 300;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
