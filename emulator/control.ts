import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { EmulatorConnector } from './connectors.js';
import { EMULATOR_ENDPOINTS, type EmulatorEndpoint, isEmulatorEndpoint } from './knobs.js';
import type { ConnectionFieldPatch } from './store.js';
import type { EmulatorContext, EmulatorKnobs } from './types.js';
import { isRecord } from './util.js';
import { isBuiltWebhookEvent, type SendWebhookOptions, WEBHOOK_EVENTS, webhookUrl } from './webhooks.js';

class ControlError extends Error {}

function endpointOf(body: Record<string, unknown>): EmulatorEndpoint {
  const endpoint = body['endpoint'];
  if (!isEmulatorEndpoint(endpoint)) {
    throw new ControlError(`endpoint must be one of ${EMULATOR_ENDPOINTS.join(', ')}`);
  }
  return endpoint;
}

function optionalInt(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ControlError(`${name} must be an integer`);
  return value;
}

function nullableString(value: unknown, name: string): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'string') return value;
  throw new ControlError(`${name} must be a string or null`);
}

function stringRecord(value: unknown, name: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new ControlError(`${name} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new ControlError(`${name}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function dateValue(value: unknown, name: string): string | null | undefined {
  return nullableString(value, name);
}

/** Reads a ConnectionFieldPatch from JSON (dates as strings, sent as is). */
function patchOf(body: Record<string, unknown>): ConnectionFieldPatch {
  const patch: ConnectionFieldPatch = {};
  const state = nullableString(body['state'], 'state');
  if (state !== undefined) patch.state = state;
  const message = nullableString(body['error_message'], 'error_message');
  if (message !== undefined) patch.error_message = message;
  const lastUpdate = dateValue(body['last_update'], 'last_update');
  if (lastUpdate !== undefined) patch.last_update = lastUpdate;
  const created = dateValue(body['created'], 'created');
  if (created !== undefined) {
    if (created === null) throw new ControlError('created cannot be null');
    patch.created = created;
  }
  const nextTry = dateValue(body['next_try'], 'next_try');
  if (nextTry !== undefined) patch.next_try = nextTry;
  const expire = dateValue(body['expire'], 'expire');
  if (expire !== undefined) patch.expire = expire;
  if (body['active'] !== undefined) {
    if (typeof body['active'] !== 'boolean') throw new ControlError('active must be a boolean');
    patch.active = body['active'];
  }
  const idConnector = optionalInt(body, 'id_connector');
  if (idConnector !== undefined) patch.id_connector = idConnector;
  if (body['connector_uuid'] !== undefined) {
    if (typeof body['connector_uuid'] !== 'string') throw new ControlError('connector_uuid must be a string');
    patch.connector_uuid = body['connector_uuid'];
  }
  if (body['connector'] !== undefined) {
    if (!isRecord(body['connector'])) throw new ControlError('connector must be an object');
    patch.connector = body['connector'] as Partial<EmulatorConnector>;
  }
  if (body['extra'] !== undefined) {
    if (!isRecord(body['extra'])) throw new ControlError('extra must be an object');
    patch.extra = body['extra'];
  }
  return patch;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ControlError(`${name} must be a string`);
  return value;
}

/** The options of POST /webhooks/send: `hmacSecret`, `bearer`, `gzip`, `signCompressed`, `date` (sent as is), `headers`. */
function webhookOptionsOf(body: Record<string, unknown>): SendWebhookOptions {
  const options: SendWebhookOptions = {};
  const hmacSecret = optionalString(body, 'hmacSecret');
  if (hmacSecret !== undefined) options.hmacSecret = hmacSecret;
  const bearer = optionalString(body, 'bearer');
  if (bearer !== undefined) options.bearer = bearer;
  const date = optionalString(body, 'date');
  if (date !== undefined) options.date = date;
  if (body['gzip'] !== undefined) {
    if (typeof body['gzip'] !== 'boolean') throw new ControlError('gzip must be a boolean');
    options.gzip = body['gzip'];
  }
  if (body['signCompressed'] !== undefined) {
    if (typeof body['signCompressed'] !== 'boolean') throw new ControlError('signCompressed must be a boolean');
    options.signCompressed = body['signCompressed'];
  }
  const headers = stringRecord(body['headers'], 'headers');
  if (headers !== undefined) options.headers = headers;
  return options;
}

function connectionIdOf(req: Request): number {
  const raw = req.params['id'];
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) throw new ControlError('connection id must be a number');
  return Number(raw);
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return isRecord(body) ? body : {};
}

/** The knobs over HTTP, under `/__emulator` (for a test driving an emulator in another process). */
export function createControlRouter(ctx: EmulatorContext, knobs: EmulatorKnobs): Router {
  const router = express.Router();
  router.use(express.json({ limit: '256kb' }));
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.post('/fail', (req, res) => {
    const body = bodyOf(req);
    const status = optionalInt(body, 'status');
    if (status === undefined) throw new ControlError('status is required');
    const headers = stringRecord(body['headers'], 'headers');
    const times = optionalInt(body, 'times');
    knobs.fail(endpointOf(body), {
      status,
      ...(body['body'] !== undefined ? { body: body['body'] } : {}),
      ...(headers !== undefined ? { headers } : {}),
      ...(times !== undefined ? { times } : {}),
    });
    res.status(204).end();
  });

  router.post('/hang', (req, res) => {
    const body = bodyOf(req);
    const times = optionalInt(body, 'times');
    knobs.hang(endpointOf(body), times === undefined ? {} : { times });
    res.status(204).end();
  });

  router.post('/delay', (req, res) => {
    const body = bodyOf(req);
    const ms = body['ms'];
    if (typeof ms !== 'number') throw new ControlError('ms must be a number');
    const times = optionalInt(body, 'times');
    knobs.delay(endpointOf(body), ms, times === undefined ? {} : { times });
    res.status(204).end();
  });

  router.post('/malformed', (req, res) => {
    const body = bodyOf(req);
    const times = optionalInt(body, 'times');
    knobs.malformed(endpointOf(body), times === undefined ? {} : { times });
    res.status(204).end();
  });

  router.post('/connections/:id/state', (req, res) => {
    const id = connectionIdOf(req);
    const body = bodyOf(req);
    const state = nullableString(body['state'], 'state');
    if (state === undefined) throw new ControlError('state is required (a string or null)');
    const message = nullableString(body['error_message'], 'error_message');
    if (ctx.store.connection(id) === undefined) {
      res.status(404).json({ error: 'unknown connection' });
      return;
    }
    knobs.setConnectionState(id, state, message);
    res.status(204).end();
  });

  router.post('/connections/:id/fields', (req, res) => {
    const id = connectionIdOf(req);
    const patch = patchOf(bodyOf(req));
    if (ctx.store.connection(id) === undefined) {
      res.status(404).json({ error: 'unknown connection' });
      return;
    }
    knobs.setConnectionField(id, patch);
    res.status(204).end();
  });

  /** `{ days }`: the consent ends `days` from now (negative: it has ended); `null` removes it. */
  router.post('/connections/:id/consent', (req, res) => {
    const id = connectionIdOf(req);
    const days = bodyOf(req)['days'];
    if (days !== null && (typeof days !== 'number' || !Number.isFinite(days))) throw new ControlError('days must be a number or null');
    if (ctx.store.connection(id) === undefined) {
      res.status(404).json({ error: 'unknown connection' });
      return;
    }
    knobs.setConsentExpiry(id, days);
    res.status(204).end();
  });

  router.post('/users', (req, res) => {
    const body = bodyOf(req);
    const list = body['connections'];
    const connections: { connectorId?: number; state?: string | null; errorMessage?: string | null }[] = [];
    if (list !== undefined) {
      if (!Array.isArray(list)) throw new ControlError('connections must be an array');
      for (const item of list as unknown[]) {
        if (!isRecord(item)) throw new ControlError('connections[] must be objects');
        const connectorId = optionalInt(item, 'connectorId');
        const state = nullableString(item['state'], 'state');
        const errorMessage = nullableString(item['errorMessage'], 'errorMessage');
        connections.push({
          ...(connectorId !== undefined ? { connectorId } : {}),
          ...(state !== undefined ? { state } : {}),
          ...(errorMessage !== undefined ? { errorMessage } : {}),
        });
      }
    }
    res.status(201).json(knobs.addUser({ connections }));
  });

  /**
   * Sends a webhook: `{ event, base | url, payload?, userId?, connectionId?, hmacSecret?, bearer?,
   * gzip?, signCompressed?, date?, headers? }`. It goes to `url`, the URL registered for the
   * event, or else to `{base}/webhooks/powens/{event}` (one URL per event, as Powens' console
   * registers them). Without `payload`, one is built from the emulator's data for `userId` /
   * `connectionId`. Answers `{ url, status, body, idWebhookData }` of the delivery.
   */
  router.post('/webhooks/send', async (req, res) => {
    const body = bodyOf(req);
    const event = optionalString(body, 'event');
    if (event === undefined || event === '') throw new ControlError('event is required');
    const base = optionalString(body, 'base');
    const url = optionalString(body, 'url') ?? (base === undefined ? undefined : webhookUrl(base, event));
    if (url === undefined || !/^https?:\/\//.test(url)) throw new ControlError('url (or base) must be an http(s) URL');
    let payload: unknown = body['payload'];
    if (payload === undefined) {
      if (!isBuiltWebhookEvent(event)) {
        throw new ControlError(`without a payload, event must be one of ${WEBHOOK_EVENTS.join(', ')}`);
      }
      const userId = optionalInt(body, 'userId');
      const connectionId = optionalInt(body, 'connectionId');
      payload = knobs.webhookPayload(event, {
        ...(userId !== undefined ? { userId } : {}),
        ...(connectionId !== undefined ? { connectionId } : {}),
      });
    }
    const options = webhookOptionsOf(body);
    try {
      res.json(await knobs.sendWebhook(url, payload, options));
    } catch (err: unknown) {
      res.status(502).json({ error: `webhook delivery failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  });

  router.post('/reset', (req, res) => {
    if (bodyOf(req)['all'] === true) knobs.resetAll();
    else knobs.reset();
    res.status(204).end();
  });

  router.post('/reset-all', (_req, res) => {
    knobs.resetAll();
    res.status(204).end();
  });

  router.get('/calls', (_req, res) => {
    res.json({ calls: ctx.registry.callsByEndpoint(), total: ctx.registry.calls(), traceparents: ctx.registry.traceparents() });
  });

  router.get('/snapshot', (_req, res) => {
    res.json(ctx.store.snapshot());
  });

  router.get('/info', (_req, res) => {
    res.json({
      domain: ctx.domain,
      publicUrl: ctx.publicUrl() ?? null,
      clients: ctx.clients.map((c) => ({ clientId: c.clientId, redirectUris: c.redirectUris })),
      endpoints: EMULATOR_ENDPOINTS,
    });
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'unknown emulator control route' });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ControlError || err instanceof TypeError) {
      res.status(400).json({ error: err.message });
      return;
    }
    const status = isRecord(err) && typeof err['status'] === 'number' ? err['status'] : 500;
    res.status(status >= 400 && status < 600 ? status : 500).json({ error: err instanceof Error ? err.message : 'error' });
  });

  return router;
}
