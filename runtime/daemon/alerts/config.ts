/**
 * The `mail` and `alerts` sections of the data directory's config (docs/alerts.md): where alert
 * mails go (the operator's SMTP server) and when each alert opens. Validated here so the config
 * loader stays one list of checks.
 */

export interface MailConfig {
  /** SMTP server; null: alerts are only written to the log. */
  host: string | null;
  port: number;
  /** TLS from the first byte (port 465); false: plain, upgraded with STARTTLS per `starttls`. */
  secure: boolean;
  /**
   * "auto": STARTTLS when offered, and required before a login (`user`); "require": refuse a
   * server without it; "off": never (a login then goes in clear, with a warning).
   */
  starttls: 'auto' | 'require' | 'off';
  user: string | null;
  /** File holding the SMTP password (relative to the data directory, or absolute). */
  passwordFile: string | null;
  from: string | null;
  to: string[];
}

export interface AlertConfig {
  /** Exposure above the tolerance must last this long before its mail. */
  exposureGraceMs: number;
  /** No successful backup for this long opens the no-backup alert. */
  noBackupMs: number;
  /** Stored bytes over pledge at or above this fraction opens the pledge alert. */
  pledgeNearlyFullFraction: number;
  /** A join request waiting this long opens its alert (0: at once). */
  joinRequestAfterMs: number;
  /** How often the daemon checks the conditions. */
  checkIntervalMs: number;
}

export const DEFAULT_MAIL: MailConfig = {
  host: null,
  port: 587,
  secure: false,
  starttls: 'auto',
  user: null,
  passwordFile: null,
  from: null,
  to: [],
};

export const DEFAULT_ALERTS: AlertConfig = {
  exposureGraceMs: 3_600_000,
  noBackupMs: 3 * 86_400_000,
  pledgeNearlyFullFraction: 0.9,
  joinRequestAfterMs: 0,
  checkIntervalMs: 60_000,
};

/** Bounds: a month of grace is plenty; a check at least every 100 ms and at most hourly. */
const MAX_DURATION_MS = 366 * 86_400_000;
const MAX_RECIPIENTS = 20;
const MAX_ADDRESS_CHARS = 320;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function onlyKeys(value: Record<string, unknown>, allowed: object, what: string): void {
  for (const k of Object.keys(value))
    if (!(k in allowed))
      throw new Error(`${what}: unknown key "${k}" (known: ${Object.keys(allowed).join(', ')})`);
}

const address = (v: unknown): boolean =>
  typeof v === 'string' && v.length <= MAX_ADDRESS_CHARS && /^[^\s@<>]+@[^\s@<>]+$/.test(v);

/** Fills defaults for missing keys and checks every value; throws Error with the key at fault. */
export function parseMailConfig(value: unknown): MailConfig {
  if (!isObject(value)) throw new Error('mail must be an object, e.g. {"host":"smtp.example.org",...}');
  // The first config files (before alerts existed) wrote {to, smtpHost, smtpPort, from}.
  const { smtpHost, smtpPort, ...rest } = value;
  const v: Record<string, unknown> = { ...rest };
  if (smtpHost !== undefined && v.host === undefined) v.host = smtpHost;
  if (smtpPort !== undefined && v.port === undefined) v.port = smtpPort;
  if (v.to === null) v.to = [];
  onlyKeys(v, DEFAULT_MAIL, 'mail');
  const m = { ...DEFAULT_MAIL, ...v } as Record<string, unknown>;
  if (typeof m.to === 'string') m.to = [m.to];
  const c = m as unknown as MailConfig;
  if (c.host !== null && (typeof c.host !== 'string' || c.host.length === 0 || c.host.length > 255))
    throw new Error('mail.host must be a host name or null');
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535)
    throw new Error('mail.port must be 1 to 65535');
  if (typeof c.secure !== 'boolean') throw new Error('mail.secure must be true or false');
  if (!['auto', 'require', 'off'].includes(c.starttls as string))
    throw new Error('mail.starttls must be "auto", "require" or "off"');
  if (c.user !== null && typeof c.user !== 'string') throw new Error('mail.user must be a string or null');
  if (c.passwordFile !== null && (typeof c.passwordFile !== 'string' || c.passwordFile === ''))
    throw new Error('mail.passwordFile must be a file name or null');
  if (c.from !== null && !address(c.from))
    throw new Error('mail.from must be an address like pb@example.org');
  if (!Array.isArray(c.to) || c.to.length > MAX_RECIPIENTS || !c.to.every(address))
    throw new Error(`mail.to must be up to ${MAX_RECIPIENTS} addresses like you@example.org`);
  if (c.host !== null && c.to.length === 0)
    throw new Error('mail.to needs at least one address when mail.host is set');
  return c;
}

export function parseAlertConfig(value: unknown): AlertConfig {
  if (!isObject(value)) throw new Error('alerts must be an object, e.g. {"noBackupMs":259200000}');
  onlyKeys(value, DEFAULT_ALERTS, 'alerts');
  const c = { ...DEFAULT_ALERTS, ...value } as AlertConfig;
  for (const k of ['exposureGraceMs', 'noBackupMs', 'joinRequestAfterMs'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 0 || c[k] > MAX_DURATION_MS)
      throw new Error(`alerts.${k} must be a whole number of ms from 0 to ${MAX_DURATION_MS}`);
  }
  if (c.noBackupMs < 1000) throw new Error('alerts.noBackupMs must be at least 1000 ms');
  if (!Number.isSafeInteger(c.checkIntervalMs) || c.checkIntervalMs < 100 || c.checkIntervalMs > 3_600_000)
    throw new Error('alerts.checkIntervalMs must be 100 to 3600000 ms');
  const f = c.pledgeNearlyFullFraction;
  if (typeof f !== 'number' || !(f > 0 && f <= 1))
    throw new Error('alerts.pledgeNearlyFullFraction must be in (0, 1]');
  return c;
}
