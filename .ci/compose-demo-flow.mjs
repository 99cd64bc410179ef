/* global fetch */
// The demo flow through the containers of `docker-compose --profile demo up` (.ci/compose-demo.sh):
// as a browser on this machine would do it, over the published ports only. Exits 1 naming the
// step that failed. Argument: the folder of the emulator's build (for its webview driver).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { completeWebview } = await import(pathToFileURL(join(process.argv[2] ?? 'build/emulator', 'index.js')).href);
const APP = 'http://localhost:3000';
const cookies = new Map();

function step(name, ok, detail = '') {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail === '' ? '' : `: ${detail}`}\n`);
  if (!ok) process.exit(1);
}

async function browse(method, url, { body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    redirect: 'manual',
    headers: {
      ...headers,
      cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return { status: res.status, location: res.headers.get('location') ?? '', text: await res.text() };
}

const ready = await fetch(`${APP}/readyz`).then(
  (r) => r.status,
  () => 0,
);
step('the service is ready (GET /readyz)', ready === 200, String(ready));

const signIn = await browse('POST', `${APP}/demo/session`, { body: { userId: 'compose-demo-user' }, headers: { 'x-csrf': '1', origin: APP } });
step('demo sign-in (POST /demo/session)', signIn.status === 204, String(signIn.status));

const start = await browse('GET', `${APP}/connect`);
step(
  "GET /connect sends the browser to the emulator's webview",
  start.status === 302 && start.location.startsWith('http://localhost:4010/'),
  `${start.status} ${start.location.split('?')[0]}`,
);

const back = await completeWebview(start.location, { kind: 'connect' });
step('the webview (Demo Bank, any credentials) returns to /callback', back.href.startsWith(`${APP}/callback?`), back.href.split('?')[0]);

const callback = await browse('GET', back.href);
step('GET /callback exchanges the code and answers 303', callback.status === 303, `${callback.status} ${callback.location}`);

const list = await browse('GET', `${APP}/me/connections`);
const body = JSON.parse(list.text);
step(
  'GET /me/connections lists the new connection',
  list.status === 200 && body.linked === true && body.connections.length === 1,
  `${list.status} linked=${body.linked} connections=${body.connections?.length}`,
);

const control = await fetch('http://localhost:4010/__emulator/info').then(
  (r) => r.status,
  () => 0,
);
step("the emulator's control API is not served on its published port", control === 404, String(control));
const controlPort = await fetch('http://127.0.0.1:4011/__emulator/info').then(
  (r) => r.status,
  (e) => e.cause?.code ?? 'error',
);
step("the emulator's control port is not published", controlPort === 'ECONNREFUSED', String(controlPort));
