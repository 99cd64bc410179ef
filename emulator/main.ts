/** `npm run emulator`: the Powens emulator alone, configured by EMULATOR_* variables. */
import { startEmulator, type StartEmulatorOptions } from './server.js';
import { knownTimeZone } from './util.js';

interface EmulatorEnv {
  options: StartEmulatorOptions;
  problems: string[];
}

function parseEnv(env: NodeJS.ProcessEnv): EmulatorEnv {
  const problems: string[] = [];
  const options: StartEmulatorOptions = {};

  const port = env['EMULATOR_PORT'] ?? '4010';
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) problems.push('EMULATOR_PORT: must be a port number (0-65535)');
  else options.port = Number(port);

  options.host = env['EMULATOR_HOST'] ?? '127.0.0.1';

  const clientId = env['EMULATOR_CLIENT_ID'];
  const clientSecret = env['EMULATOR_CLIENT_SECRET'];
  const redirectUris = env['EMULATOR_REDIRECT_URIS'];
  if (clientId !== undefined || clientSecret !== undefined || redirectUris !== undefined) {
    const uris = (redirectUris ?? 'http://localhost:3000/callback')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    if (uris.length === 0) problems.push('EMULATOR_REDIRECT_URIS: must list at least one URI');
    if (clientId === '') problems.push('EMULATOR_CLIENT_ID: must not be empty');
    if (clientSecret === '') problems.push('EMULATOR_CLIENT_SECRET: must not be empty');
    options.clients = [
      {
        clientId: clientId ?? 'demo-client',
        clientSecret: clientSecret ?? 'demo-secret-change-me',
        redirectUris: uris,
      },
    ];
  }

  const timeZone = env['EMULATOR_TIMEZONE'];
  if (timeZone !== undefined && timeZone !== '') {
    if (knownTimeZone(timeZone)) options.timeZone = timeZone;
    else problems.push('EMULATOR_TIMEZONE: must be an IANA time zone such as Europe/Paris or UTC');
  }

  const publicUrl = env['EMULATOR_PUBLIC_URL'];
  if (publicUrl !== undefined && publicUrl !== '') {
    try {
      const parsed = new URL(publicUrl);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
      options.publicUrl = publicUrl;
    } catch {
      problems.push('EMULATOR_PUBLIC_URL: must be an http(s) URL');
    }
  }
  return { options, problems };
}

async function main(): Promise<void> {
  const { options, problems } = parseEnv(process.env);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.exit(1);
  }
  const running = await startEmulator(options);
  const shown = options.publicUrl ?? running.url;
  process.stdout.write(`Powens emulator listening on ${shown} (API ${shown.replace(/\/+$/, '')}/2.0)\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`Powens emulator failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
