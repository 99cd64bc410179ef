/**
 * `npm run user-ref -- <user id>...`: the reference under which the logs name an app user
 * (`userRef`, see src/crypto.ts), so that support can find a user's requests without the logs
 * ever holding the id. Needs TOKEN_ENCRYPTION_KEYS only, read from the environment or `.env`
 * of the working directory as the service reads it: the key never goes on a command line.
 * Without arguments, reads one user id per line from standard input (ids then stay out of the
 * shell's history too).
 *
 * Prints on stdout one reference per id, under the first key (what the service logs now); on
 * stderr, the references under the other keys of the list, which logs written before that key
 * came first use.
 *
 * Exit codes: 0 done; 1 configuration problem or no user id.
 */
import { createInterface } from 'node:readline';
import { loadTokenKeys } from '../config.js';
import { userRef, userRefKey } from '../crypto.js';
import { line, scriptEnvironment } from './environment.js';

async function idsFromStdin(): Promise<string[]> {
  const ids: string[] = [];
  for await (const input of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (input !== '') ids.push(input);
  }
  return ids;
}

async function main(): Promise<number> {
  const result = scriptEnvironment(loadTokenKeys);
  if (result === undefined) return 1;
  const ids = process.argv.length > 2 ? process.argv.slice(2) : await idsFromStdin();
  if (ids.length === 0) {
    line('usage: npm run user-ref -- <user id>...   (or one user id per line on standard input)');
    return 1;
  }
  const [first, ...older] = result.tokenKeys.map((k) => ({ id: k.id, key: userRefKey(k.key) }));
  if (first === undefined) return 1;
  for (const [n, id] of ids.entries()) {
    process.stdout.write(`${userRef(first.key, id)}\n`);
    // Numbered, not named by the id: stderr may end up in a terminal log or a ticket.
    for (const k of older) line(`  user ${n + 1}, under the older key "${k.id}": ${userRef(k.key, id)}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    line(`user-ref failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
