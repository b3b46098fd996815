/**
 * The dashboard address `pb-node status` prints: the daemon's URL with the token from the data
 * directory (only someone who can read the data directory gets a working link).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TOKEN_FILE } from '../dashboard/server.ts';

export function dashboardLink(dataDir: string, url: string | null): string | null {
  if (url === null) return null;
  try {
    const token = fs.readFileSync(join(dataDir, TOKEN_FILE), 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(token)) return `${url}?token=${token}`;
  } catch {}
  return `${url} (token in ${join(dataDir, TOKEN_FILE)})`;
}
