/**
 * Sends one mail through the operator's SMTP server (nodemailer), each attempt bounded in time,
 * and turns SMTP failures into one clear sentence (`MailError`). Retrying is the outbox's job
 * (outbox.ts); this module never retries by itself.
 *
 * Credentials never go out without TLS: with a login (`mail.user`) and `starttls: "auto"` a
 * server that offers no STARTTLS is refused before AUTH (`no-starttls`). Only an explicit
 * `starttls: "off"` sends the login in clear, and every such attempt is warned about. The
 * password file must be private to its owner (private-file.ts).
 */
import { isAbsolute, join } from 'node:path';
import nodemailer from 'nodemailer';
import { PrivateFileError, readPrivateFile } from '../private-file.ts';
import type { MailConfig } from './config.ts';
import type { AlertMail } from './messages.ts';

/** Bounds on one attempt: connect, greeting, and any silence on the socket. */
const CONNECT_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;
const MAX_PASSWORD_BYTES = 4096;

export class MailError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MailError';
    this.code = code;
  }
}

export interface SentMail {
  messageId: string;
  accepted: string[];
  response: string;
}

function readPassword(config: MailConfig, dataDir: string): string | undefined {
  if (config.passwordFile === null) return undefined;
  const file = isAbsolute(config.passwordFile) ? config.passwordFile : join(dataDir, config.passwordFile);
  try {
    return readPrivateFile(file, 'mail.passwordFile', MAX_PASSWORD_BYTES).replace(/\r?\n$/, '');
  } catch (error) {
    if (error instanceof PrivateFileError) throw new MailError('password-file', error.message);
    throw error;
  }
}

/** Whether this attempt must upgrade with STARTTLS (or fail) before anything else is sent. */
function mustStartTls(config: MailConfig): boolean {
  if (config.secure || config.starttls === 'off') return false;
  return config.starttls === 'require' || config.user !== null;
}

/** The refusal when the server would not upgrade to TLS and the config did not allow plain. */
function noStartTls(config: MailConfig, detail: string): MailError {
  const where = `${config.host}:${config.port}`;
  const why =
    config.user !== null
      ? `pb-node does not send the login of mail.user "${config.user}" without TLS`
      : 'mail.starttls is "require"';
  return new MailError(
    'no-starttls',
    `sending mail via ${where} failed: the server offers no STARTTLS and ${why}. Use a server or port with TLS (port 465 with secure: true, or one that offers STARTTLS), or set mail.starttls = "off" to send it in clear anyway (${detail})`,
  );
}

/** One sentence an operator can act on, from nodemailer's error. */
export function describeSmtpError(error: unknown, config: MailConfig): MailError {
  if (error instanceof MailError) return error;
  const e = error as {
    code?: string;
    command?: string;
    responseCode?: number;
    response?: string;
    message?: string;
  };
  if (e.code === 'ETLS' && e.command === 'STARTTLS' && mustStartTls(config))
    return noStartTls(config, e.response ?? e.message ?? String(error));
  const where = `${config.host}:${config.port}`;
  // nodemailer reports socket failures as ESOCKET with the system's code in the message.
  const errno = /\b(ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ECONNRESET|EAI_AGAIN)\b/.exec(
    e.message ?? '',
  )?.[1];
  const code =
    e.code === 'ESOCKET' && errno !== undefined ? errno : typeof e.code === 'string' ? e.code : 'smtp';
  const detail = e.response ?? e.message ?? String(error);
  let hint = '';
  if (code === 'ECONNREFUSED') hint = ': nothing listens there (check mail.host and mail.port)';
  else if (code === 'ETIMEDOUT' || code === 'ETIMEOUT')
    hint = ': no answer in time (firewall, or the wrong port)';
  else if (code === 'EHOSTUNREACH') hint = ': the host cannot be reached';
  else if (code === 'EDNS' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    hint = ': the host name does not resolve';
  else if (code === 'EAUTH') hint = ': the server refused the login (check mail.user and mail.passwordFile)';
  else if (code === 'ETLS' || code === 'ESOCKET')
    hint = ': TLS or connection problem (port 465 wants secure: true; 587 and 25 want secure: false)';
  else if (code === 'EENVELOPE')
    hint = ': the server refused the sender or a recipient (check mail.from and mail.to)';
  return new MailError(
    code,
    `sending mail via ${where} failed (${code}${e.responseCode ? ` ${e.responseCode}` : ''})${hint}: ${detail}`,
  );
}

/**
 * One attempt to send `mail` to every `config.to`. Throws MailError. `warn` hears about a login
 * that goes out without TLS (`starttls: "off"`).
 */
export async function sendMail(
  config: MailConfig,
  dataDir: string,
  mail: AlertMail,
  warn: (line: string) => void = () => {},
): Promise<SentMail> {
  if (config.host === null)
    throw new MailError(
      'not-configured',
      'mail is not configured: set mail.host, mail.from and mail.to in the config',
    );
  const password = readPassword(config, dataDir);
  if (config.user !== null && !config.secure && config.starttls === 'off')
    warn(
      `mail.starttls is "off": the login of mail.user "${config.user}" goes to ${config.host}:${config.port} without TLS, readable by anyone on the path`,
    );
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure,
    ignoreTLS: config.starttls === 'off',
    requireTLS: mustStartTls(config),
    connectionTimeout: CONNECT_TIMEOUT_MS,
    greetingTimeout: GREETING_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    ...(config.user === null
      ? {}
      : { auth: { user: config.user, ...(password === undefined ? {} : { pass: password }) } }),
  });
  try {
    const info = await transport.sendMail({
      from: config.from ?? `pb-node@${config.host}`,
      to: config.to,
      subject: mail.subject,
      text: mail.text,
    });
    return {
      messageId: String(info.messageId),
      accepted: (info.accepted as unknown[]).map(String),
      response: String(info.response),
    };
  } catch (error) {
    throw describeSmtpError(error, config);
  } finally {
    transport.close();
  }
}
