/**
 * A local SMTP sink (smtp-server) on 127.0.0.1 for the demo and the tests: accepts every mail,
 * keeps it in memory (bounded) and hands it to `onMail`. Plain SMTP, no STARTTLS, no login needed.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  raw: string;
}

const MAX_MAILS = 1000;
const MAX_MAIL_BYTES = 1024 * 1024;

function decodeQuotedPrintable(s: string): string {
  return Buffer.from(
    s
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

/** Subject and plain-text body of a simple nodemailer message (text/plain, 7bit or QP). */
export function parseMail(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
  let subject = /^Subject: (.*)$/im.exec(unfolded)?.[1] ?? '';
  subject = subject
    .replace(/=\?utf-8\?Q\?(.*?)\?=/gi, (_, q: string) => decodeQuotedPrintable(q.replace(/_/g, ' ')))
    .replace(/\?=\s+=\?/g, '');
  const qp = /^Content-Transfer-Encoding: quoted-printable/im.test(unfolded);
  const b64 = /^Content-Transfer-Encoding: base64/im.test(unfolded);
  let text = body.replace(/\r\n\.?\r\n$/, '');
  if (qp) text = decodeQuotedPrintable(text);
  else if (b64) text = Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { subject, text: text.replace(/\r\n/g, '\n') };
}

export class SmtpSink {
  readonly mails: ReceivedMail[] = [];
  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(onMail: (m: ReceivedMail) => void = () => {}, port = 0): Promise<SmtpSink> {
    let sink: SmtpSink | null = null;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      size: MAX_MAIL_BYTES,
      onData(stream, session, callback) {
        const parts: Buffer[] = [];
        let bytes = 0;
        stream.on('data', (b: Buffer) => {
          bytes += b.length;
          if (bytes <= MAX_MAIL_BYTES) parts.push(b);
        });
        stream.on('end', () => {
          const raw = Buffer.concat(parts).toString('utf8');
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            ...parseMail(raw),
          };
          if (sink !== null && sink.mails.length < MAX_MAILS) sink.mails.push(mail);
          onMail(mail);
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    server.on('error', () => {});
    sink = new SmtpSink(server, (server.server.address() as AddressInfo).port);
    return sink;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
