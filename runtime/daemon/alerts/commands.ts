/**
 * `pb-node alerts test [--dir D]`: one test mail through the running daemon, or straight from the
 * data directory's config when no daemon runs; prints where it went or the SMTP error.
 * `pb-node alerts list [--dir D]`: the open (and pending) alert episodes of the running daemon.
 */
import type { Command } from 'commander';
import { defaultDataDir, loadConfig, paths } from '../config/config.ts';
import { ControlError, callDaemon } from '../control/control.ts';
import { type SentMail, sendMail } from './mailer.ts';
import { renderTestMail } from './messages.ts';
import type { Episode } from './rules.ts';

interface Io {
  out: (t: string) => void;
  err: (t: string) => void;
}
const io: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export async function alertsTestCommand(dir: string, json: boolean, out: Io = io): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(dir);
  } catch (error) {
    out.err(`pb-node alerts test: ${(error as Error).message}`);
    return 1;
  }
  const where = `${config.mail.host}:${config.mail.port}`;
  let via = 'the daemon';
  try {
    let sent: SentMail;
    try {
      sent = (await callDaemon(paths(dir).socket, 'alertsTest')) as SentMail;
    } catch (error) {
      if (!(error instanceof ControlError) || error.code !== 'not-running') throw error;
      via = 'this command (no daemon runs)';
      sent = await sendMail(
        config.mail,
        dir,
        renderTestMail({ memberName: config.name, dataDir: dir }, Date.now()),
        (t) => out.err(`warning: ${t}`),
      );
    }
    if (json) out.out(JSON.stringify({ ok: true, via, ...sent }));
    else out.out(`Test mail sent by ${via} via ${where} to ${sent.accepted.join(', ')} (${sent.response}).`);
    return 0;
  } catch (error) {
    const e = error as { code?: string; message: string };
    if (json) out.out(JSON.stringify({ error: { code: e.code ?? 'mail', message: e.message } }));
    else out.err(`pb-node alerts test: ${e.message}`);
    return 1;
  }
}

export function registerAlertCommands(program: Command): void {
  const alerts = program.command('alerts').description('alert mails: send a test, list open alerts');
  alerts
    .command('test')
    .description('send a test mail with the configured SMTP settings and report the result')
    .option('--dir <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      process.exitCode = await alertsTestCommand(o.dir, o.json === true);
    });
  alerts
    .command('list')
    .description("the running daemon's alert episodes")
    .option('--dir <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      try {
        const r = (await callDaemon(paths(o.dir).socket, 'alerts')) as {
          episodes: Episode[];
          outbox: number;
          mailConfigured: boolean;
        };
        if (o.json) {
          io.out(JSON.stringify(r));
          return;
        }
        const open = r.episodes.filter((e) => e.openedAtMs !== null);
        io.out(
          open.length === 0
            ? 'no open alerts'
            : open.map((e) => `open since ${new Date(e.openedAtMs!).toISOString()}: ${e.key}`).join('\n'),
        );
        const pending = r.episodes.length - open.length;
        if (pending > 0) io.out(`${pending} condition(s) within their grace period`);
        if (!r.mailConfigured)
          io.out('mail is not configured: alerts go to the log only (set `mail` in the config)');
        else if (r.outbox > 0) io.out(`${r.outbox} mail(s) waiting to be sent (see the log)`);
      } catch (error) {
        io.err(`pb-node alerts list: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    });
}
