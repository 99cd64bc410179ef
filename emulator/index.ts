/**
 * The emulator's public API: tests, the demo and the bench import this file only, never a
 * module behind it. The emulator stands in for Powens, so it imports nothing from src/ either
 * (emulator/tsconfig.json fails the build if it does).
 */

// Building and running it.
export { createEmulator, DEFAULT_CLIENT, DEFAULT_DOMAIN } from './app.js';
export type { Emulator, EmulatorOptions, EmulatorState } from './app.js';
export { startEmulator } from './server.js';
export type { RunningEmulator, StartEmulatorOptions } from './server.js';
export type { AddedUser, AddUserOptions, EmulatorClient, EmulatorKnobs } from './types.js';

// Knobs (faults, delays) and the data they act on.
export { EMULATOR_ENDPOINTS } from './knobs.js';
export type { EmulatorEndpoint, FailOptions, TimesOptions } from './knobs.js';
export type { ConnectionFieldPatch, EmulatorSnapshot, EmulatorUserView, PowensConnection, SnapshotUser } from './store.js';

// The banks it offers.
export { CONNECTORS, DEMO_BANK_ID, TEST_CONNECTOR_ID, TEST_CONNECTOR_UUID } from './connectors.js';
export type { EmulatorConnector } from './connectors.js';

// Webhooks as Powens sends them.
export { signatureDate, signWebhook, WEBHOOK_EVENTS, webhookUrl } from './webhooks.js';
export type { BuiltWebhookEvent, SendWebhookOptions, WebhookDelivery, WebhookSubject } from './webhooks.js';

// The driver: fills in the webview's forms as a user would, over HTTP.
export { completeWebview, decodeEntities, pageErrorText, parseForms, walkWebview } from './driver.js';
export type { ParsedForm, WebviewAction, WebviewStepName, WebviewSteps, WebviewWalk } from './driver.js';

// The test logins of the webview (README lists them).
export { EXPIRING_CONSENT_DAYS, MAGIC_LOGINS, OTP_CODE } from './logins.js';
export type { MagicLogin } from './logins.js';

// Its settings as `npm run emulator` reads them (EMULATOR_*), for the docs' test.
export { emulatorEnv, EMULATOR_DEFAULTS } from './env.js';
export type { EmulatorEnv } from './env.js';
