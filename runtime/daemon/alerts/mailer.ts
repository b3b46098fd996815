/**
 * Sends one mail through the operator's SMTP server (nodemailer), each attempt bounded in time,
 * and turns SMTP failures into one clear sentence (`MailError`). Retrying is the outbox's job
 * (outbox.ts); this module never retries by itself.
 */
import * as fs from 'node:fs';
import { isAbsolute, join } from 'node:path';
import nodemailer from 'nodemailer';
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
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MailError(
      'password-file',
      `cannot read mail.passwordFile ${file}: ${(error as Error).message}`,
    );
  }
  if (text.length > MAX_PASSWORD_BYTES)
    throw new MailError('password-file', `${file} is too large for a password`);
  return text.replace(/\r?\n$/, '');
}

/** One sentence an operator can act on, from nodemailer's error. */
export function describeSmtpError(error: unknown, config: MailConfig): MailError {
  if (error instanceof MailError) return error;
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
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

/** One attempt to send `mail` to every `config.to`. Throws MailError. */
export async function sendMail(config: MailConfig, dataDir: string, mail: AlertMail): Promise<SentMail> {
  if (config.host === null)
    throw new MailError(
      'not-configured',
      'mail is not configured: set mail.host, mail.from and mail.to in the config',
    );
  const password = readPassword(config, dataDir);
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure,
    ignoreTLS: config.starttls === 'off',
    requireTLS: config.starttls === 'require',
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
