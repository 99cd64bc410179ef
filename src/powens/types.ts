import { z } from 'zod';

/**
 * Powens' answers, validated at the boundary. Schemas are lenient where Powens' sources differ
 * (docs/POWENS-API.md: both forms are accepted) and strict on what the service relies on.
 */

export const tokenAnswer = z
  .object({
    auth_token: z.string().min(1).optional(),
    access_token: z.string().min(1).optional(),
    token_type: z.string().optional(),
  })
  .loose()
  .refine((v) => v.auth_token !== undefined || v.access_token !== undefined, {
    message: 'neither auth_token nor access_token',
  });

/**
 * POST /auth/init (docs.powens.com, "Authentication": AuthToken): `auth_token`, `type`
 * (`permanent` when client_id and client_secret are sent, else `temporary`), `id_user`,
 * `expires_in` (integer or null). The official SDK's spec requires the first three.
 */
export const initAnswer = z
  .object({
    auth_token: z.string().min(1),
    type: z.string(),
    id_user: z.number().int(),
    expires_in: z.number().nullable().optional(),
  })
  .loose();

export const temporaryCodeAnswer = z
  .object({
    code: z.string().min(1),
    type: z.string().optional(),
    access: z.string().optional(),
    expires_in: z.number().nullable().optional(),
  })
  .loose();

export const userAnswer = z.object({ id: z.number().int() }).loose();

const powensDate = z.string().nullable().optional();

export const connector = z
  .object({
    id: z.number().int(),
    uuid: z.string().optional(),
    name: z.string(),
  })
  .loose();

export const connection = z
  .object({
    id: z.number().int(),
    id_user: z.number().int().nullable().optional(),
    id_connector: z.number().int().nullable().optional(),
    connector_uuid: z.string().nullable().optional(),
    state: z.string().nullable().optional(),
    error: z.string().nullable().optional(),
    error_message: z.string().nullable().optional(),
    last_update: powensDate,
    created: powensDate,
    next_try: powensDate,
    expire: powensDate,
    active: z.boolean().optional(),
    connector: connector.nullable().optional(),
  })
  .loose();

export const connectionsAnswer = z.object({ connections: z.array(connection) }).loose();

/**
 * `GET /connectors`: `{connectors: [...]}` (DOCS connectors; SDK `connectors.yml`). Entries are
 * read one by one (see `listedConnector`), so one odd connector does not empty a bank picker.
 * No paging is documented for this list; a `_links` member would be tolerated and ignored.
 */
export const connectorsAnswer = z.object({ connectors: z.array(z.unknown()) }).loose();

/** A connector of the list: `id` (not stable across domains), `uuid` (stable), `name`, `capabilities`. */
export const listedConnector = z
  .object({
    id: z.number().int(),
    uuid: z.string().min(1).max(64),
    name: z.string().min(1).max(200),
    capabilities: z.array(z.string().max(64)).max(32).optional(),
    hidden: z.boolean().optional(),
  })
  .loose();

export type PowensConnection = z.infer<typeof connection>;
export type PowensConnector = z.infer<typeof connector>;

export type TemporaryCodeType = 'singleAccess' | 'requestAccess';
