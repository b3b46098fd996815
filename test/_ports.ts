/**
 * A TCP port for a daemon that must keep its address across restarts. Taken below Linux's
 * ephemeral range (32768-60999): a port the kernel handed out for a moment (to `listen(0)` or an
 * outgoing connection of another test) can be taken again by the kernel before the daemon
 * listens on it; one from 20000-31999 is only ever taken by a test that asks for it.
 */
import { createServer } from 'node:net';

const LOW = 20_000;
const SPAN = 12_000;
const MAX_TRIES = 64;

export async function fixedPort(): Promise<number> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const port = LOW + Math.floor(Math.random() * SPAN);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${LOW}-${LOW + SPAN - 1} after ${MAX_TRIES} tries`);
}
