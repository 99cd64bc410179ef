/**
 * The emulator's test logins: typed in the webview's login field (any password), they make the
 * bank behave as real banks do at sign-in. Listed on the connect page and in README.
 */
import type { MessageKey } from './messages.js';
import type { LoginStep } from './store.js';

/** The one-time code the `sca` step accepts (shown on its page: this is a test bank). */
export const OTP_CODE = '123456';

/** Days until the consent of a connection made with the `expiring` login ends. */
export const EXPIRING_CONSENT_DAYS = 3;

/**
 * Days a consent runs once renewed by a reconnect: 180, the longest PSD2 lets account access go
 * without a new strong authentication (Delegated Regulation (EU) 2022/2360).
 */
export const RENEWED_CONSENT_DAYS = 180;

export const MAGIC_LOGINS = ['wrongpass', 'sca', 'decoupled', 'question', 'expiring'] as const;
export type MagicLogin = (typeof MAGIC_LOGINS)[number];

/** What each test login does, as the connect page says it. */
export const MAGIC_LOGIN_HELP: Readonly<Record<MagicLogin, MessageKey>> = Object.freeze({
  wrongpass: 'magicWrongpass',
  sca: 'magicSca',
  decoupled: 'magicDecoupled',
  question: 'magicQuestion',
  expiring: 'magicExpiring',
});

/**
 * The test logins named by a login: its words split on `+`, case ignored (`sca+expiring`,
 * `SCA`). Words that are not test logins are ignored: `alice` is a plain login.
 */
export function magicLogins(login: string): Set<MagicLogin> {
  const words = login
    .toLowerCase()
    .split('+')
    .map((w) => w.trim());
  return new Set(MAGIC_LOGINS.filter((m) => words.includes(m)));
}

/** The steps after the credentials, in the order a bank asks them: the question, the code, the app. */
export function stepsOf(magic: ReadonlySet<MagicLogin>): LoginStep[] {
  const steps: LoginStep[] = [];
  if (magic.has('question')) steps.push('question');
  if (magic.has('sca')) steps.push('otp');
  if (magic.has('decoupled')) steps.push('decoupled');
  return steps;
}
