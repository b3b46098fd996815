/**
 * The dashboard's HTTP server, inside the daemon (docs/design.md §11). It listens on 127.0.0.1 by
 * default (another address only with `allowRemote`), and every request must carry the token kept
 * in `<data dir>/dashboard-token` (0600): `Authorization: Bearer <token>`, or `?token=` for the
 * page itself. Without a token: 401; with a wrong one: 403. On loopback the Host header must name
 * the loopback address (a DNS-rebinding page cannot borrow the browser's access).
 *
 * Routes: GET / (the page), GET /api/status (the StatusReport), GET /api/history (the sample
 * ring), POST /api/approve and /api/reject with `{"who": "<candidate id or name>"}` (the daemon's
 * `approve`/`reject` control methods: the same code as the CLI), POST /api/pause and /api/resume
 * with `{}` (uploads of backups and repairs: the daemon's `pause`/`resume`). Bodies are at most
 * 4 KiB.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HistorySample } from './history.ts';
import { renderDashboardPage } from './page.ts';

export const MAX_BODY_BYTES = 4096;
export const TOKEN_FILE = 'dashboard-token';
const TOKEN_RE = /^[0-9a-f]{64}$/;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface DashboardConfig {
  host: string;
  port: number;
  allowRemote: boolean;
}

export interface DashboardDeps {
  report: () => Promise<unknown>;
  history: () => readonly HistorySample[];
  decide: (who: string, kind: 'approve' | 'reject') => Promise<unknown>;
  /** The daemon's `pause` (until `resume`) and `resume`: the same code as the CLI. */
  uploads: (verb: 'pause' | 'resume') => Promise<unknown>;
  log: (line: string) => void;
}

export class DashboardError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DashboardError';
  }
}

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Reads the token, creating it (0600) on first use; a group- or world-readable file is tightened. */
export function readOrCreateToken(file: string): string {
  try {
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!TOKEN_RE.test(text))
      throw new DashboardError(500, `the dashboard token in ${file} must be 64 lowercase hex characters`);
    return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('hex');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const escapeHtml = (t: string): string => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function errorPage(status: number, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>pb-node dashboard: ${status}</title></head><body><h1>pb-node dashboard</h1><p>${escapeHtml(message)}.</p><p>Open the address that <code>pb-node status</code> prints: it carries the token.</p></body></html>`;
}

export class DashboardServer {
  private server: http.Server | null = null;
  private port = 0;

  constructor(
    private readonly config: DashboardConfig,
    private readonly token: string,
    private readonly deps: DashboardDeps,
  ) {
    if (!isLoopback(config.host) && !config.allowRemote)
      throw new DashboardError(
        500,
        `the dashboard listens on ${config.host}, which is not a loopback address: set "allowRemote": true to mean it`,
      );
    if (!TOKEN_RE.test(token)) throw new DashboardError(500, 'the dashboard token must be 64 hex characters');
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res).catch((error: unknown) => {
        const status = error instanceof DashboardError ? error.status : 500;
        const message = (error as Error).message;
        if (status === 500) this.deps.log(`dashboard: ${message}`);
        // A person opening the page gets a sentence, a script gets JSON.
        if ((req.url ?? '/').split('?')[0] === '/' && req.method === 'GET')
          this.send(res, status, errorPage(status, message), true);
        else this.send(res, status, { error: { message } });
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.maxHeadersCount = 64;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.url();
  }

  /** The page's address, without the token. */
  url(): string {
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    return `http://${host}:${this.port}/`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  private send(res: http.ServerResponse, status: number, body: unknown, html = false): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = html ? String(body) : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': html ? 'text/html; charset=utf-8' : 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy':
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'",
      ...(status === 401 ? { 'WWW-Authenticate': 'Bearer realm="pb-node"' } : {}),
    });
    res.end(text);
  }

  private authorize(req: http.IncomingMessage, url: URL, allowQuery: boolean): void {
    if (!this.config.allowRemote) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      if (!isLoopback(host))
        throw new DashboardError(403, 'this dashboard answers only on its loopback address');
    }
    const header = req.headers.authorization;
    let given: string | null = null;
    if (typeof header === 'string' && header.startsWith('Bearer ')) given = header.slice(7).trim();
    else if (allowQuery) given = url.searchParams.get('token');
    if (given === null || given === '')
      throw new DashboardError(401, 'the dashboard needs its token (see `pb-node status` for the address)');
    if (!sameToken(given, this.token)) throw new DashboardError(403, 'wrong dashboard token');
  }

  private async readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
      throw new DashboardError(415, 'send JSON');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES)
        throw new DashboardError(413, `a request body is at most ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new DashboardError(400, 'the body is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new DashboardError(400, 'the body must be a JSON object');
    return body as Record<string, unknown>;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const method = req.method ?? 'GET';
    // Every request, whatever it asks for, shows the token first (POSTs only in the header).
    this.authorize(req, url, method === 'GET');
    if (method === 'GET' && url.pathname === '/') {
      this.send(res, 200, renderDashboardPage(), true);
      return;
    }
    if (method === 'GET' && url.pathname === '/api/status') {
      this.send(res, 200, await this.deps.report());
      return;
    }
    if (method === 'GET' && url.pathname === '/api/history') {
      this.send(res, 200, { samples: this.deps.history() });
      return;
    }
    if (method === 'POST' && (url.pathname === '/api/approve' || url.pathname === '/api/reject')) {
      const body = await this.readBody(req);
      if (typeof body.who !== 'string' || body.who.length === 0 || body.who.length > 200)
        throw new DashboardError(400, 'name the candidate: {"who": "<id or name>"}');
      const kind = url.pathname === '/api/approve' ? 'approve' : 'reject';
      try {
        this.send(res, 200, await this.deps.decide(body.who, kind));
      } catch (error) {
        const e = error as { code?: string; message?: string };
        const status = e.code === 'not-found' ? 404 : e.code === 'not-inviter' ? 403 : 400;
        throw new DashboardError(status, e.message ?? String(error));
      }
      return;
    }
    if (method === 'POST' && (url.pathname === '/api/pause' || url.pathname === '/api/resume')) {
      await this.readBody(req); // an empty object; read so the body is bounded and well formed
      this.send(res, 200, await this.deps.uploads(url.pathname === '/api/pause' ? 'pause' : 'resume'));
      return;
    }
    if (url.pathname === '/' || url.pathname.startsWith('/api/'))
      throw new DashboardError(405, `${method} is not allowed on ${url.pathname}`);
    throw new DashboardError(404, 'not found');
  }
}
