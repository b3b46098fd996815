/**
 * `/pb/yamux-wide/1.0.0`: yamux with a wide per-stream receive window, and credit returned in
 * batches (docs/protocols.md, Muxers).
 *
 * Window: plain yamux starts every stream at 256 KiB and returns credit one frame at a time, so
 * a fresh stream carrying a 4 MiB shard stalls on each round trip between two busy event loops
 * (measured: ~20 MiB/s per put stream on a loaded 2-core machine). pb opens one stream per
 * shard, so streams never live long enough to grow their window. Both ends must agree on the
 * initial window (the sender assumes it), so the wide window is a muxer of its own, negotiated
 * under its own protocol id: an older member that does not know it falls back to plain
 * `/yamux/1.0.0` (listed second) and keeps working.
 *
 * Credit: the library sends a window update after every data frame it receives (one per 64 KiB
 * noise frame): each is an encrypted frame and a socket write of its own, 1.2 s of a restore's
 * 9 s of CPU for 1 GiB on loopback. A wide stream returns credit once half its window (and a
 * frame) is spent, so the sender still holds nearly half when it arrives: no stall, one update
 * per 2 MiB instead of one per 64 KiB. (A quarter, before, sent four per 4 MiB shard, and a group
 * restore's main thread spent 6 % of its time sending them, mostly in the loopback write.)
 * Any yamux sender works with this (credit is credit), so the protocol id stays.
 */
import { yamux } from '@libp2p/yamux';

export const WIDE_YAMUX_PROTOCOL = '/pb/yamux-wide/1.0.0';
/**
 * Both muxers run without yamux's keepalive (a ping frame each way every 30 s on every link, which
 * ends nothing when unanswered): libp2p's connection monitor already pings every link once a
 * minute from both ends and aborts one whose ping fails (node.ts, CONNECTION_PING_INTERVAL_MS), and
 * that traffic keeps NAT mappings fresh too. One mechanism instead of two: an idle member's main
 * thread spent about a tenth of its time on the keepalive frames (docs/design.md, Idle cost).
 */
export const YAMUX_BASE = { enableKeepAlive: false } as const;
/** Initial (and largest) receive window per stream of the wide muxer: one 4 MiB shard body. */
export const WIDE_YAMUX_WINDOW_BYTES = 4 * 1024 * 1024;
/** Bytes a paused stream may buffer before it is aborted: twice the window it granted. */
export const WIDE_YAMUX_READ_BUFFER_BYTES = 2 * WIDE_YAMUX_WINDOW_BYTES;
/**
 * Credit goes back once this much of the window is spent: half (as Go's yamux returns it) and one
 * 64 KiB frame more, so that a 4 MiB shard (a little over 4 MiB with its trailer and framing)
 * costs one window update, not two: the rest after the first fits the credit.
 */
export const WIDE_YAMUX_CREDIT_BATCH_BYTES = WIDE_YAMUX_WINDOW_BYTES / 2 + 64 * 1024;

/** yamux's stream state `Established` (its StreamState enum): the only state batched. */
const ESTABLISHED = 3;

/** Window updates wide streams of this process sent and held back (tests, benchmarks). */
export const wideCredit = { sent: 0, heldBack: 0 };

/** The fields of the library's YamuxStream this module reads (internal: checked at use). */
interface YamuxStreamInternals {
  state: number;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate(): void;
}

/** Makes a stream return credit in batches; a stream without the expected fields is left alone. */
function batchCredit(stream: YamuxStreamInternals): void {
  const send = stream.sendWindowUpdate;
  if (typeof send !== 'function' || typeof stream.recvWindow !== 'number') return;
  stream.sendWindowUpdate = function batched(this: YamuxStreamInternals): void {
    const spentBytes = this.recvWindow - this.recvWindowCapacity;
    if (this.state === ESTABLISHED && spentBytes < WIDE_YAMUX_CREDIT_BATCH_BYTES) {
      wideCredit.heldBack++;
      return;
    }
    wideCredit.sent++;
    send.call(this);
  };
}

export function wideWindowYamux(): ReturnType<typeof yamux> {
  const make = yamux({
    ...YAMUX_BASE,
    streamOptions: {
      initialStreamWindowSize: WIDE_YAMUX_WINDOW_BYTES,
      maxStreamWindowSize: WIDE_YAMUX_WINDOW_BYTES,
      maxReadBufferLength: WIDE_YAMUX_READ_BUFFER_BYTES,
    },
  });
  return () => {
    const factory = make();
    factory.protocol = WIDE_YAMUX_PROTOCOL;
    const create = factory.createStreamMuxer.bind(factory);
    factory.createStreamMuxer = (conn) => {
      const muxer = create(conn);
      muxer.protocol = WIDE_YAMUX_PROTOCOL; // what the connection reports as its multiplexer
      const internals = muxer as unknown as { _newStream?: (...args: unknown[]) => YamuxStreamInternals };
      const newStream = internals._newStream;
      if (typeof newStream === 'function')
        internals._newStream = (...args: unknown[]) => {
          const stream = newStream.apply(muxer, args);
          batchCredit(stream);
          return stream;
        };
      return muxer;
    };
    return factory;
  };
}
