/**
 * The one reader of the environment. `loadConfig(env)` validates every variable at once and
 * returns either typed config or the full list of problems, one line per problem, each naming
 * the variable and never echoing a secret's value.
 *
 * This file is the public entry; the parts live in src/config/:
 *   variables.ts  every variable declared once (type, default, description, example, secret, section)
 *   values.ts     the per-variable types (URLs, origins, host names, key lists, ...)
 *   rules.ts      the rules between variables (production, auth modes, Redis topology, demo)
 *   load.ts       the schemas of the service, storage and demo profiles, and their loaders
 *   dotenv.ts     `.env` of the working directory, read at start-up (the environment wins)
 * The README table and .env.example are rendered from variables.ts by tools/env-table.ts
 * (`npm run docs:env`), outside the service.
 */
export {
  AUTH_MODES,
  LOG_LEVELS,
  WEBVIEW_LANGS,
  type AuthConfig,
  type AuthMode,
  type Config,
  type ConfigResult,
  type DemoConfig,
  type DemoConfigResult,
  type Env,
  type LogLevel,
  type PowensPool,
  type PowensPoolSizes,
  type RedisConfig,
  type StorageConfig,
  type StorageConfigResult,
  type TokenKey,
  type TrustProxy,
  type WebviewLang,
} from './config/types.js';
export { parseTokenKeys } from './config/values.js';
export { DEMO_CLIENT_ID, ENV_VARIABLES, formatProblems, loadConfig, loadDemoConfig, loadStorageConfig, loadTokenKeys } from './config/load.js';
export { describeDotEnv, loadDotEnv, type DotEnvReport } from './config/dotenv.js';
