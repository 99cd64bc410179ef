import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createEmulator, type Emulator, type EmulatorOptions } from './app.js';

export interface RunningEmulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** `url + '/2.0'`. */
  apiUrl: string;
  /** The webview's base URL (= url). */
  webviewUrl: string;
  emulator: Emulator;
  /** The control API's own base URL, when it has its own port (`controlPort`); else undefined (it is under `url`). */
  controlUrl: string | undefined;
  /** TCP connections accepted so far. */
  connectionsAccepted(): number;
  /** Stops listening and closes every socket, hanging requests included. */
  close(): Promise<void>;
}

export interface StartEmulatorOptions extends EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * A port of its own for the control API (`/__emulator`), which is then not served on `port`;
   * 0 picks a free one. Unset (default): the control API is on `port` with the rest.
   */
  controlPort?: number;
  /** Where the control API listens when it has its own port; default 127.0.0.1. */
  controlHost?: string;
}

async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startEmulator(opts: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const { port = 0, host = '127.0.0.1', controlPort, controlHost = '127.0.0.1', ...emulatorOptions } = opts;
  const emulator = createEmulator({ ...emulatorOptions, separateControl: controlPort !== undefined });
  const server: Server = createServer(emulator.app);
  // Longer than the idle timeout of usual keep-alive clients (Node's agents: 5 s, undici: 4 s), so the
  // server never closes an idle socket just as a client reuses it; close() ends them anyway.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  let accepted = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const address = await listen(server, port, host);
  let controlServer: Server | undefined;
  let controlUrl: string | undefined;
  if (controlPort !== undefined) {
    controlServer = createServer(emulator.controlApp);
    try {
      const at = await listen(controlServer, controlPort, controlHost);
      controlUrl = `http://${urlHost(controlHost === '0.0.0.0' ? '127.0.0.1' : controlHost === '::' ? '::1' : controlHost)}:${at.port}`;
    } catch (err: unknown) {
      server.close();
      throw err;
    }
  }

  const listenHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${urlHost(listenHost)}:${address.port}`;
  if (emulatorOptions.publicUrl === undefined) emulator.setPublicUrl(url);

  let closing: Promise<void> | undefined;
  return {
    url,
    apiUrl: `${url}/2.0`,
    webviewUrl: url,
    controlUrl,
    emulator,
    connectionsAccepted: () => accepted,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        controlServer?.close();
        controlServer?.closeAllConnections();
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
