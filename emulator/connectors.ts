/** The emulator's connector catalogue (Powens "connectors": banks and other providers). */
export interface EmulatorConnector {
  id: number;
  uuid: string;
  name: string;
  slug: string;
  color: string;
  capabilities: string[];
  country: string;
  hidden: boolean;
  charged: boolean;
  beta: boolean;
  restricted: boolean;
  auth_mechanism: string;
  months_to_fetch: number | null;
  sync_frequency: number | null;
}

export const DEMO_BANK_ID = 59;
export const TEST_CONNECTOR_ID = 40;
export const TEST_CONNECTOR_UUID = '338178e6-3d01-564f-9a7b-52ca442459bf';

function connector(id: number, uuid: string, name: string, slug: string, color: string, capabilities: string[] = ['bank']): EmulatorConnector {
  return {
    id,
    uuid,
    name,
    slug,
    color,
    capabilities,
    country: 'FR',
    hidden: false,
    charged: true,
    beta: false,
    restricted: false,
    auth_mechanism: 'credentials',
    months_to_fetch: null,
    sync_frequency: null,
  };
}

export const CONNECTORS: readonly EmulatorConnector[] = Object.freeze([
  connector(DEMO_BANK_ID, 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59', 'Demo Bank', 'DEMO', '0055a4'),
  connector(TEST_CONNECTOR_ID, TEST_CONNECTOR_UUID, 'Connecteur de test', 'EXTEST', '7a7a7a'),
  connector(17, '2d1b6a0e-3c8f-5e0b-8f4a-1e9d6b3c7a17', 'Banque Exemple', 'BEXEMPLE', 'c0392b'),
  connector(338, '9b2f3c1d-7e4a-5f6b-8c9d-0a1b2c3d4338', 'Sandbox Neobank', 'SNEO', '16a085', ['bank', 'transfer']),
]);

export function findConnector(id: number): EmulatorConnector | undefined {
  return CONNECTORS.find((c) => c.id === id);
}

/**
 * States the test connector can simulate: log in to "Connecteur de test" with one of these as
 * the login and the new connection is created in that state, with that message.
 */
export const SIMULATED_STATES: Readonly<Record<string, string | null>> = Object.freeze({
  SCARequired: 'Strong customer authentication is required by your bank.',
  webauthRequired: 'Please log in again on your bank website.',
  additionalInformationNeeded: 'Your bank needs more information.',
  decoupled: 'Approve the access in your banking app.',
  validating: null,
  actionNeeded: 'Please accept the new terms on your bank website.',
  passwordExpired: 'Your password has expired.',
  wrongpass: 'Wrong login or password.',
  rateLimiting: null,
  websiteUnavailable: null,
  bug: null,
});
