/**
 * The daemon's last-resort handler for errors nobody caught. The transport stack (libp2p, its
 * transports, muxers and WebRTC bindings) runs event listeners and timers of its own; an error
 * thrown there must not end a daemon that holds other members' shards: it is logged (rate
 * limited) and `onTransportError` lets the daemon re-reserve its relays. Anything else, pb's own
 * code above all, is a bug or corruption: it is logged with its stack and the process exits 70
 * (crash loudly, restart clean).
 */
import { describeError } from '../../net/errors.ts';

/** Package directories whose code is the transport stack (as they appear in stack frames). */
const TRANSPORT_PATHS = [
  '/node_modules/libp2p/',
  '/node_modules/@libp2p/',
  '/node_modules/@chainsafe/',
  '/node_modules/@multiformats/',
  '/node_modules/node-datachannel/',
  '/node_modules/@ipshipyard/',
  '/node_modules/main-event/',
  '/node_modules/p-event/',
  '/node_modules/race-signal/',
  '/node_modules/uint8arraylist/',
  '/node_modules/it-',
];
/** Logged transport errors per minute; more are counted and summarised. */
const MAX_LOGGED_PER_MINUTE = 20;
/** Exit code for an error that is not the transport's (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/** The first stack frame that names a file (node's own internals skipped). */
function firstFrame(stack: string): string | null {
  for (const line of stack.split('\n').slice(1, 40)) {
    const t = line.trim();
    if (!t.startsWith('at ')) continue;
    if (t.includes('node:internal') || t.includes('(node:') || t.startsWith('at node:')) continue;
    if (t === 'at new Promise (<anonymous>)' || t.includes('<anonymous>')) continue;
    return t;
  }
  return null;
}

/**
 * Whether an uncaught error comes from the transport stack: its innermost frame of real code is
 * in a transport package, or it is a bare event (a WebRTC data channel's 'error' or 'close'
 * event thrown as is). pb's own frames on top mean pb's bug: not the transport's.
 */
export function isTransportError(error: unknown): boolean {
  if (error instanceof Error) {
    const frame = firstFrame(error.stack ?? '');
    return frame !== null && TRANSPORT_PATHS.some((p) => frame.includes(p));
  }
  if (typeof error === 'object' && error !== null && 'type' in error) {
    const type = (error as { type: unknown }).type;
    return typeof type === 'string' && ['error', 'close', 'closing'].includes(type);
  }
  return false;
}

export interface LastResortOptions {
  log: (line: string) => void;
  /** After a transport error: e.g. dial the relays again (they may be what broke). */
  onTransportError?: () => void;
  exit?: (code: number) => void;
  now?: () => number;
}

export interface LastResort {
  /** Handles one uncaught error or rejection (the installed listeners call this). */
  handle(error: unknown, origin: string): void;
  uninstall(): void;
  readonly transportErrors: number;
}

export function installLastResort(options: LastResortOptions): LastResort {
  const now = options.now ?? Date.now;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let windowStartMs = now();
  let inWindow = 0;
  let suppressed = 0;
  let total = 0;
  const handle = (error: unknown, origin: string): void => {
    if (!isTransportError(error)) {
      const stack = error instanceof Error ? (error.stack ?? error.message) : describeError(error);
      options.log(`fatal: ${origin} outside the transport stack, exiting: ${stack}`);
      exit(CRASH_EXIT_CODE);
      return;
    }
    total++;
    if (now() - windowStartMs >= 60_000) {
      if (suppressed > 0) options.log(`transport: ${suppressed} more uncaught errors in the last minute`);
      windowStartMs = now();
      inWindow = 0;
      suppressed = 0;
    }
    if (++inWindow <= MAX_LOGGED_PER_MINUTE) {
      const frame = error instanceof Error ? firstFrame(error.stack ?? '') : null;
      options.log(
        `transport: ${origin} kept from ending the daemon: ${describeError(error)}${frame === null ? '' : ` (${frame})`}`,
      );
    } else suppressed++;
    try {
      options.onTransportError?.();
    } catch (e) {
      options.log(`transport: recovering after the error failed: ${describeError(e)}`);
    }
  };
  const onException = (error: unknown): void => handle(error, 'uncaught exception');
  const onRejection = (reason: unknown): void => handle(reason, 'unhandled rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    handle,
    uninstall: () => {
      process.removeListener('uncaughtException', onException);
      process.removeListener('unhandledRejection', onRejection);
    },
    get transportErrors() {
      return total;
    },
  };
}
