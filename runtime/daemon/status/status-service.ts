/**
 * Status in the daemon: the report source (status-source.ts), the sample ring for the charts
 * (dashboard/history.ts, one sample a minute) and the dashboard server (dashboard/server.ts),
 * started and stopped together. A dashboard that cannot listen (port taken) is logged and left
 * off; the daemon goes on. With `port: 0` the port the system picked is kept in
 * `<data dir>/dashboard-port` and asked for again at the next start (a bookmark keeps working);
 * taken by then, another free one is picked.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/config.ts';
import { SAMPLE_EVERY_MS, StatusHistory } from '../dashboard/history.ts';
import { DashboardServer, readOrCreateToken, TOKEN_FILE } from '../dashboard/server.ts';
import type { StatusReport } from './status-report.ts';
import { type StatusDeps, StatusSource } from './status-source.ts';

export const DASHBOARD_PORT_FILE = 'dashboard-port';

/** The port to ask for: the configured one, or with 0 the one kept from the last start. */
function rememberedPort(file: string, configured: number): number {
  if (configured !== 0) return configured;
  try {
    const port = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : 0;
  } catch {
    return 0;
  }
}

export interface StatusServiceDeps extends Omit<StatusDeps, 'dashboardUrl'> {
  config: NodeConfig['dashboard'];
  decide: (who: string, kind: 'approve' | 'reject') => Promise<unknown>;
  uploads: (verb: 'pause' | 'resume') => Promise<unknown>;
  log: (line: string) => void;
}

export class StatusService {
  private dashboard: DashboardServer | null = null;
  private dashboardUrl: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly source: StatusSource;
  readonly history: StatusHistory;

  private constructor(private readonly deps: StatusServiceDeps) {
    this.history = new StatusHistory(join(deps.dataDir, 'status-history.json'), (t) =>
      deps.log(`warning: ${t}`),
    );
    this.source = new StatusSource({
      ...deps,
      dashboardUrl: () => this.dashboardUrl,
      previousSightings: () => this.history.sightings(),
    });
  }

  static async start(deps: StatusServiceDeps): Promise<StatusService> {
    const service = new StatusService(deps);
    const config = deps.config;
    if (config !== null) {
      try {
        const token = readOrCreateToken(join(deps.dataDir, TOKEN_FILE));
        const portFile = join(deps.dataDir, DASHBOARD_PORT_FILE);
        const wanted = rememberedPort(portFile, config.port);
        const serve = (port: number): DashboardServer =>
          new DashboardServer({ host: config.host, port, allowRemote: config.allowRemote === true }, token, {
            report: () => service.report(),
            history: () => service.history.samples(),
            decide: deps.decide,
            uploads: deps.uploads,
            log: deps.log,
          });
        let server = serve(wanted);
        try {
          service.dashboardUrl = await server.start();
        } catch (error) {
          // The remembered port is taken now: any free one (a configured port stays an error).
          if (config.port !== 0 || wanted === 0) throw error;
          server = serve(0);
          service.dashboardUrl = await server.start();
        }
        service.dashboard = server;
        if (config.port === 0)
          fs.writeFileSync(portFile, `${new URL(service.dashboardUrl).port}\n`, { mode: 0o600 });
        deps.log(`dashboard on ${service.dashboardUrl} (token in ${join(deps.dataDir, TOKEN_FILE)})`);
      } catch (error) {
        deps.log(`the dashboard is off: ${(error as Error).message}`);
      }
    }
    service.timer = setInterval(() => void service.sample(), SAMPLE_EVERY_MS);
    service.timer.unref();
    setTimeout(() => void service.sample(), 1000).unref();
    return service;
  }

  /** `background`: the daemon's own report (its sample, its alert check), status-source.ts. */
  report(options: { background?: boolean } = {}): Promise<StatusReport> {
    return this.source.report(options);
  }

  private async sample(): Promise<void> {
    if (this.stopped) return;
    try {
      this.history.add(await this.report({ background: true }));
    } catch (error) {
      this.deps.log(`status sample failed: ${(error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.dashboard?.stop();
    this.history.save();
    this.source.close();
  }
}
