/**
 * `npm run emulator`: the Powens emulator alone, configured by EMULATOR_* variables (and `.env`
 * in the working directory; see ./env.ts). Its start line says what to put in the service's
 * `.env` to use it.
 */
import { emulatorEnv, EMULATOR_DEFAULTS, readDotEnv } from './env.js';
import { startEmulator } from './server.js';

async function main(): Promise<void> {
  let dotEnv: string | undefined;
  try {
    dotEnv = readDotEnv(process.env, process.cwd());
  } catch (err: unknown) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const { options, problems } = emulatorEnv(process.env);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.exit(1);
  }
  const running = await startEmulator(options);
  const client = options.clients?.[0];
  const secret = client?.clientSecret === EMULATOR_DEFAULTS.EMULATOR_CLIENT_SECRET ? client.clientSecret : '<the value of EMULATOR_CLIENT_SECRET>';
  process.stdout.write(
    [
      `Powens emulator listening on ${running.url}${dotEnv === undefined ? '' : ` (read ${dotEnv})`}`,
      `  webview   ${options.publicUrl}/{lang}/connect (browsers)`,
      `  API       ${options.publicUrl}/2.0`,
      `  control   ${running.controlUrl ?? running.url}/__emulator (knobs and state; not a Powens API)`,
      `  redirect URIs allowed: ${client?.redirectUris.join(', ') ?? ''}`,
      'For the service, in .env (the demo block of .env.example has these):',
      `  POWENS_DOMAIN=${options.domain}`,
      `  POWENS_API_URL=${options.publicUrl}/2.0`,
      `  POWENS_WEBVIEW_URL=${options.publicUrl}`,
      `  POWENS_CLIENT_ID=${client?.clientId ?? ''}`,
      `  POWENS_CLIENT_SECRET=${secret}`,
      '',
    ].join('\n'),
  );

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
