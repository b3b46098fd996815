/**
 * The daemon's control socket: a Unix socket in the data directory (0600). One JSON object per
 * line. A request `{ id, method, params }` gets zero or more `{ id, event, data }` lines (progress)
 * and then one `{ id, ok: true, result }` or `{ id, ok: false, error: { code, message } }`.
 * Lines are bounded (64 KiB); a client may send several requests on one connection.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';

export const MAX_CONTROL_LINE_BYTES = 64 * 1024;

export class ControlError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
  }
}

export type ControlMethod = (
  params: Record<string, unknown>,
  progress: (event: string, data: unknown) => void,
) => Promise<unknown>;

export async function startControlServer(
  path: string,
  methods: Record<string, ControlMethod>,
  onError: (e: unknown) => void,
): Promise<net.Server> {
  try {
    fs.unlinkSync(path); // a stale socket from a crash; a live daemon is refused by the lock before this
  } catch {}
  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_CONTROL_LINE_BYTES) {
        socket.end(
          `${JSON.stringify({ id: null, ok: false, error: { code: 'too-large', message: 'control line too long' } })}\n`,
        );
        return;
      }
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        void handle(line);
      }
    });
    const send = (v: unknown): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(v)}\n`);
    };
    const handle = async (line: string): Promise<void> => {
      let id: unknown = null;
      try {
        const req = JSON.parse(line) as { id?: unknown; method?: unknown; params?: unknown };
        id = req.id ?? null;
        if (typeof req.method !== 'string' || !Object.hasOwn(methods, req.method)) {
          throw new ControlError('unknown-method', `unknown control method ${String(req.method)}`);
        }
        const params =
          req.params && typeof req.params === 'object' ? (req.params as Record<string, unknown>) : {};
        const result = await methods[req.method]!(params, (event, data) => send({ id, event, data }));
        send({ id, ok: true, result: result ?? null });
      } catch (error) {
        const e = error as { code?: unknown; message?: unknown };
        if (!(error instanceof ControlError)) onError(error);
        send({
          id,
          ok: false,
          error: {
            code: typeof e.code === 'string' ? e.code : 'internal',
            message: String(e.message ?? error),
          },
        });
      }
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  fs.chmodSync(path, 0o600);
  return server;
}

/** Calls one method; `onEvent` sees progress lines. Friendly error when no daemon listens. */
export function callDaemon(
  path: string,
  method: string,
  params: Record<string, unknown> = {},
  onEvent: (event: string, data: unknown) => void = () => {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new ControlError(
            'not-running',
            `the pb-node daemon of ${dirname(path)} is not running (no socket at ${path}): start it with \`pb-node start --dir ${dirname(path)}\``,
          ),
        );
      } else reject(new ControlError('io', `cannot talk to the daemon at ${path}: ${error.message}`));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const msg = JSON.parse(line) as {
          event?: string;
          data?: unknown;
          ok?: boolean;
          result?: unknown;
          error?: { code: string; message: string };
        };
        if (msg.event !== undefined) {
          onEvent(msg.event, msg.data);
          continue;
        }
        socket.end();
        if (msg.ok) resolve(msg.result);
        else
          reject(new ControlError(msg.error?.code ?? 'internal', msg.error?.message ?? 'the daemon failed'));
      }
    });
    socket.on('close', () =>
      reject(new ControlError('closed', 'the daemon closed the connection without an answer')),
    );
  });
}
