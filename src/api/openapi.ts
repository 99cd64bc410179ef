import type { Config } from '../config.js';
import { catalogue } from '../errors.js';
import { ACTION_NEEDED_STATES, CONNECTION_STATUSES, TEMPORARY_ERROR_STATES } from '../powens/status.js';
import { sessionCookieName } from '../storage/session.js';

/**
 * The JSON API described as OpenAPI 3.1 (served at GET /openapi.json). The tests validate real
 * answers of every endpoint against the schemas here, so this document cannot drift from the
 * code unnoticed. Schemas are JSON Schema 2020-12, the dialect of OpenAPI 3.1.
 */

// ---------------------------------------------------------------- the parts of OpenAPI 3.1 we use

export interface JsonSchema {
  $ref?: string;
  type?: JsonType | JsonType[];
  description?: string;
  enum?: readonly (string | number | boolean | null)[];
  const?: string | number | boolean | null;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  examples?: unknown[];
}

type JsonType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null';

interface Reference {
  $ref: string;
}

interface Header {
  description: string;
  schema: JsonSchema;
}

interface MediaType {
  schema: JsonSchema;
  examples?: Record<string, { summary?: string; value: unknown }>;
}

interface ResponseObject {
  description: string;
  headers?: Record<string, Header | Reference>;
  content?: Record<string, MediaType>;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  description: string;
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  parameters?: (Parameter | Reference)[];
  security?: Record<string, string[]>[];
  responses: Record<string, ResponseObject | Reference>;
}

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options';
export type PathItem = Partial<Record<Method, Operation>> & { parameters?: (Parameter | Reference)[] };

type SecurityScheme =
  | { type: 'apiKey'; in: 'header' | 'cookie' | 'query'; name: string; description: string }
  | { type: 'http'; scheme: 'bearer'; bearerFormat?: string; description: string };

export interface OpenApiDocument {
  openapi: '3.1.0';
  jsonSchemaDialect: string;
  info: { title: string; version: string; description: string; license?: { name: string; identifier: string } };
  tags: { name: string; description: string }[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, ResponseObject>;
    parameters: Record<string, Parameter>;
    headers: Record<string, Header>;
    securitySchemes: Record<string, SecurityScheme>;
  };
  security: Record<string, string[]>[];
}

// ---------------------------------------------------------------- the document

const PROBLEM = 'application/problem+json';
const JSON_TYPE = 'application/json';
const ISO_DATE: JsonSchema = { type: ['string', 'null'], format: 'date-time' };

const schemas: Record<string, JsonSchema> = {
  ConnectionStatus: {
    description:
      "Derived from Powens' `state`: `ok` (null state with a last update), `syncing` (null state without one, or " +
      '`validating`), `action_needed` (the user must reconnect: see `reconnectUrl`), `temporary_error` (clears by ' +
      'itself), `unknown` (a state this service does not know yet, passed through in `state`).',
    type: 'string',
    enum: CONNECTION_STATUSES,
  },
  Connector: {
    description: 'The bank or provider of a connection.',
    type: 'object',
    properties: {
      id: { type: ['integer', 'null'], description: 'Powens connector id.' },
      name: { type: ['string', 'null'], description: 'Display name, e.g. "Demo Bank".' },
      uuid: { type: ['string', 'null'], description: 'Powens connector uuid.' },
    },
    required: ['id', 'name', 'uuid'],
    additionalProperties: false,
  },
  Connection: {
    description: 'One bank connection of the user at Powens.',
    type: 'object',
    properties: {
      id: { type: 'integer', minimum: 1, description: 'Powens connection id.' },
      connector: { $ref: '#/components/schemas/Connector' },
      state: {
        type: ['string', 'null'],
        description:
          "Powens' state, as is: null when the last sync went well. Known values: validating, " +
          [...ACTION_NEEDED_STATES, ...TEMPORARY_ERROR_STATES].join(', ') +
          '. Any other value may appear (status `unknown`).',
        examples: [null, 'SCARequired', 'wrongpass', 'websiteUnavailable'],
      },
      status: { $ref: '#/components/schemas/ConnectionStatus' },
      message: {
        type: ['string', 'null'],
        description:
          "A sentence for the user in the request's language (Accept-Language: en or fr; Content-Language says which): the bank's own text when it is plain prose, else the service's by state; null when all is well. Never a URL or technical text.",
      },
      lastUpdate: { ...ISO_DATE, description: 'Last successful sync (ISO 8601, UTC), or null before the first one.' },
      createdAt: { ...ISO_DATE, description: 'When the connection was added (ISO 8601, UTC).' },
      expiresAt: {
        ...ISO_DATE,
        description:
          "When the bank consent ends (ISO 8601, UTC), from Powens' `expire`, or null when Powens gives none. Past it, the connection stops syncing until the user reconnects.",
      },
      expiresSoon: {
        type: 'boolean',
        description:
          'True when the consent ends within CONSENT_WARNING_DAYS (default 14) or has ended: show `reconnectUrl` to renew it. Decided when the list is read from Powens, so it may lag by CONNECTIONS_CACHE_TTL_SECONDS.',
      },
      active: { type: 'boolean', description: 'Whether Powens still syncs this connection.' },
      reconnectUrl: {
        type: ['string', 'null'],
        pattern: '^/reconnect/[1-9][0-9]*$',
        description:
          'When the status is `action_needed` or `expiresSoon` is true: the path on this service that opens the reconnect webview (a browser navigation). Otherwise null.',
      },
    },
    required: ['id', 'connector', 'state', 'status', 'message', 'lastUpdate', 'createdAt', 'expiresAt', 'expiresSoon', 'active', 'reconnectUrl'],
    additionalProperties: false,
  },
  Connections: {
    type: 'object',
    properties: {
      linked: { type: 'boolean', description: 'Whether the user has a Powens user (a stored token).' },
      connections: { type: 'array', items: { $ref: '#/components/schemas/Connection' } },
    },
    required: ['linked', 'connections'],
    additionalProperties: false,
  },
  ListedConnector: {
    description: 'A bank or provider the user can connect on this Powens domain.',
    type: 'object',
    properties: {
      id: { type: 'integer', description: 'Powens connector id; not stable across Powens domains.' },
      uuid: {
        type: 'string',
        description: 'Powens connector uuid, stable across domains: what `/connect?connector_uuid=` takes.',
        examples: ['f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59'],
      },
      name: { type: 'string', description: 'Display name, e.g. "Demo Bank".' },
      capabilities: {
        type: 'array',
        items: { type: 'string' },
        description: 'What the connector offers, e.g. `bank`, `bankwealth`, `transfer`, `document`; other values may appear.',
      },
    },
    required: ['id', 'uuid', 'name', 'capabilities'],
    additionalProperties: false,
  },
  Connectors: {
    type: 'object',
    properties: { connectors: { type: 'array', items: { $ref: '#/components/schemas/ListedConnector' } } },
    required: ['connectors'],
    additionalProperties: false,
  },
  Problem: {
    description: 'An error (RFC 9457). `detail` is safe to show to a person; `requestId` is also in the service log.',
    type: 'object',
    properties: {
      type: { type: 'string', format: 'uri', description: 'A URN naming the error, e.g. urn:powens-connect-bff:error:csrf-header-missing.' },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      code: { type: 'string', enum: Object.keys(catalogue), description: 'The error code, stable across versions.' },
      requestId: { type: 'string', description: 'The reference id of the request (X-Request-Id).' },
    },
    required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
    additionalProperties: false,
  },
};

function problem(description: string, headers?: Record<string, Reference>): ResponseObject {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { [PROBLEM]: { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

const retryAfter = { 'Retry-After': { $ref: '#/components/headers/Retry-After' } };

const responses: Record<string, ResponseObject> = {
  BadRequest: problem('The user id is not acceptable (1 to 128 printable characters), or a request body is not valid JSON.'),
  Unauthorized: problem('No app user: no valid credentials for the configured AUTH_MODE. Never a redirect.'),
  Forbidden: problem(
    'A state-changing call without the header `X-CSRF: 1`, or with an `Origin` that is neither PUBLIC_URL nor in CORS_ORIGINS. Nothing was changed.',
  ),
  NotFound: problem('Powens has no such connection for this user, or the id is not a Powens id.'),
  PayloadTooLarge: problem('A request body larger than 16 kB (these operations need none).'),
  TooManyRequests: problem('Rate limit reached (RATE_LIMIT_PER_IP, RATE_LIMIT_PER_USER).', retryAfter),
  BadGateway: problem('Powens failed, did not answer in time, or answered something unreadable. Nothing was changed here.'),
  Unavailable: problem('Redis or the JWKS is unavailable, or the service is restarting. Try again later.', retryAfter),
};

const ref = (kind: 'responses' | 'parameters', name: string): Reference => ({ $ref: `#/components/${kind}/${name}` });

/** The errors every API operation may answer, besides its own. */
function errors(...codes: ('400' | '403' | '404' | '413')[]): Record<string, Reference> {
  const out: Record<string, Reference> = {};
  const names: Record<string, string> = { '400': 'BadRequest', '403': 'Forbidden', '404': 'NotFound', '413': 'PayloadTooLarge' };
  for (const code of codes) out[code] = ref('responses', names[code] ?? 'BadRequest');
  return {
    ...out,
    '401': ref('responses', 'Unauthorized'),
    '429': ref('responses', 'TooManyRequests'),
    '502': ref('responses', 'BadGateway'),
    '503': ref('responses', 'Unavailable'),
  };
}

const noContent: ResponseObject = { description: 'Done.' };

function securitySchemes(config: Config): Record<string, SecurityScheme> {
  const auth = config.auth;
  return {
    userHeader: {
      type: 'apiKey',
      in: 'header',
      name: auth.mode === 'header' ? auth.header : 'x-user-id',
      description: 'AUTH_MODE=header: the app user id, set by a trusted proxy that strips it from clients.',
    },
    bearerJwt: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'AUTH_MODE=jwt: a JWT (HS256 secret or JWKS) whose `sub` is the user id; expiry, issuer and audience are checked.',
    },
    jwtCookie: {
      type: 'apiKey',
      in: 'cookie',
      name: auth.mode === 'jwt' && auth.cookie !== undefined ? auth.cookie : 'AUTH_JWT_COOKIE',
      description: 'AUTH_MODE=jwt: the same JWT from the cookie named by AUTH_JWT_COOKIE.',
    },
    demoSession: {
      type: 'apiKey',
      in: 'cookie',
      name: sessionCookieName(config),
      description: 'AUTH_MODE=demo only: the session cookie set by the demo sign-in page. Never in production.',
    },
  };
}

/** The security requirement of the running mode (alternatives are OR-ed). */
function activeSecurity(config: Config): Record<string, string[]>[] {
  switch (config.auth.mode) {
    case 'header':
      return [{ userHeader: [] }];
    case 'jwt':
      return config.auth.cookie === undefined ? [{ bearerJwt: [] }] : [{ bearerJwt: [] }, { jwtCookie: [] }];
    case 'demo':
      return [{ demoSession: [] }];
  }
}

export function createOpenApiDocument(config: Config): OpenApiDocument {
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'powens-connect-bff',
      version: '1.0.0',
      description:
        "The JSON API of the Powens backend-for-frontend: read and manage the signed-in user's bank connections. " +
        'Responses are JSON; errors are `application/problem+json`. State-changing calls (any method but GET, HEAD, ' +
        'OPTIONS) need the header `X-CSRF: 1` and, when an `Origin` header is present, an origin in CORS_ORIGINS or ' +
        'PUBLIC_URL; otherwise 403. Browsers on CORS_ORIGINS may call with credentials. Adding, reconnecting and ' +
        'managing connections are browser navigations, not API calls: `/connect` (optionally ' +
        '`?connector_uuid=<uuid>`, repeatable, to offer only the banks picked from `GET /connectors`), `/reconnect/{id}`, `/manage`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'connections', description: "The user's bank connections at Powens." },
      { name: 'connectors', description: 'The banks of the Powens domain, for an app that shows its own bank picker.' },
    ],
    paths: {
      '/me/connections': {
        get: {
          operationId: 'listConnections',
          summary: "The user's bank connections",
          description: 'A user with no Powens token, or whose token Powens refuses (the token is then dropped), is `linked: false` with no connections.',
          tags: ['connections'],
          responses: {
            '200': {
              description: 'The connections.',
              content: {
                [JSON_TYPE]: {
                  schema: { $ref: '#/components/schemas/Connections' },
                  examples: {
                    linked: {
                      summary: 'A linked user with one connection that needs a reconnect',
                      value: {
                        linked: true,
                        connections: [
                          {
                            id: 42,
                            connector: { id: 59, name: 'Demo Bank', uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59' },
                            state: 'SCARequired',
                            status: 'action_needed',
                            message: 'Strong customer authentication is required by your bank.',
                            lastUpdate: '2026-11-24T10:00:00Z',
                            createdAt: '2026-11-20T08:30:15Z',
                            expiresAt: '2027-02-18T08:30:15Z',
                            expiresSoon: false,
                            active: true,
                            reconnectUrl: '/reconnect/42',
                          },
                        ],
                      },
                    },
                    notLinked: { summary: 'No Powens user yet', value: { linked: false, connections: [] } },
                  },
                },
              },
            },
            ...errors('400'),
          },
        },
        delete: {
          operationId: 'unlink',
          summary: 'Unlink the user from Powens',
          description: 'Deletes the Powens user (and all its connections), then the stored token. Unlinking a user who is not linked is a 204 too.',
          tags: ['connections'],
          parameters: [ref('parameters', 'XCsrf')],
          responses: { '204': noContent, ...errors('400', '403', '413') },
        },
      },
      '/me/connections/{id}': {
        delete: {
          operationId: 'removeConnection',
          summary: 'Remove one bank connection',
          tags: ['connections'],
          parameters: [
            ref('parameters', 'XCsrf'),
            {
              name: 'id',
              in: 'path',
              required: true,
              description: 'The Powens connection id. Anything but a positive integer is a 404.',
              schema: { type: 'integer', minimum: 1 },
            },
          ],
          responses: { '204': noContent, ...errors('400', '403', '404', '413') },
        },
      },
      '/connectors': {
        get: {
          operationId: 'listConnectors',
          summary: "The domain's connectors, for a bank picker",
          description:
            'The banks and providers users can connect on this Powens domain (Powens `GET /connectors`, hidden ones left out), ' +
            'cached for CONNECTORS_CACHE_TTL_SECONDS. Needs no user: it is the same for everyone. Send the chosen `uuid` to ' +
            '`/connect?connector_uuid=<uuid>` to open the webview on that bank.',
          tags: ['connectors'],
          security: [],
          responses: {
            '200': {
              description: 'The connectors.',
              content: {
                [JSON_TYPE]: {
                  schema: { $ref: '#/components/schemas/Connectors' },
                  examples: {
                    two: {
                      summary: 'Two banks',
                      value: {
                        connectors: [
                          { id: 59, uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59', name: 'Demo Bank', capabilities: ['bank'] },
                          { id: 338, uuid: '9b2f3c1d-7e4a-5f6b-8c9d-0a1b2c3d4338', name: 'Sandbox Neobank', capabilities: ['bank', 'transfer'] },
                        ],
                      },
                    },
                  },
                },
              },
            },
            '429': ref('responses', 'TooManyRequests'),
            '502': ref('responses', 'BadGateway'),
            '503': ref('responses', 'Unavailable'),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { [JSON_TYPE]: { schema: { type: 'object' } } } } },
        },
      },
    },
    components: {
      schemas,
      responses,
      parameters: {
        XCsrf: {
          name: 'X-CSRF',
          in: 'header',
          required: true,
          description: 'Must be `1` on every state-changing call: a header a cross-site form cannot send.',
          schema: { type: 'string', const: '1' },
        },
      },
      headers: {
        'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
      },
      securitySchemes: securitySchemes(config),
    },
    security: activeSecurity(config),
  };
}
