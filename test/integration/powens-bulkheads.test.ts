// Bulkheads (docs/RELIABILITY.md): each kind of Powens call has its own
// bound on concurrent calls and its own sockets, so lists that hang cannot starve callbacks.
import { connectBank, freshUser } from '../helpers/api.js';
import { QUEUE_PER_SLOT } from '../../src/powens/client.js';
import { parseMetrics, sampleValue } from '../helpers/prometheus.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { withinDeadline } from '../helpers/wait.js';

let stack: Stack;
beforeAll(async () => {
  // No connections cache: every list asks Powens. Four list calls at once at most, 64 waiting.
  stack = await startStack({ env: { CONNECTIONS_CACHE_TTL_SECONDS: '0', POWENS_MAX_CONCURRENT_LISTS: '4', POWENS_TIMEOUT_MS: '1500' } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

/** A list request's deadline: well past POWENS_TIMEOUT_MS, by which a hanging list is a 502. */
const LIST_DEADLINE_MS = 5000;

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  return sampleValue(parseMetrics(await stack.built.metrics.registry.metrics()), name, labels);
}

test('with the connection lists hanging and many list requests in flight, first connections still complete', async () => {
  const { userId, b } = freshUser(stack);
  await connectBank(b);
  const knobs = stack.emulator.emulator.knobs;
  knobs.hang('connections.list');

  // Eighty clients polling the list without pause: more than the lists' bound and queue (4 + 4 x QUEUE_PER_SLOT).
  const lister = stack.browser(userId);
  let polling = true;
  const listAnswers = new Map<number, number>();
  let mostInFlight = 0;
  const pollers = Array.from({ length: 4 + 4 * QUEUE_PER_SLOT + 12 }, async () => {
    while (polling) {
      const hop = await lister.request('GET', '/me/connections', { deadlineMs: LIST_DEADLINE_MS });
      listAnswers.set(hop.status, (listAnswers.get(hop.status) ?? 0) + 1);
      const lists = (await stack.built.metrics.powensInFlight.get()).values.find((v) => v.labels.pool === 'lists');
      mostInFlight = Math.max(mostInFlight, lists?.value ?? 0);
      // A refused call comes back at once: a short pause keeps the pollers from starving the
      // machine's two cores (Redis answers late then, and the test would see 503s it is not about).
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  // Settled from the start: a poller failing while the connections run is reported below, not
  // as an unhandled rejection.
  const pollersDone = Promise.allSettled(pollers);

  let failures: unknown[] = [];
  try {
    // Three first connections, one after another, while the lists hang: /connect, the webview, /callback.
    let completed = 0;
    const connections = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        const user = freshUser(stack);
        await connectBank(user.b);
        completed += 1;
      }
    };
    await withinDeadline(connections(), 15_000, 'three first connections while the lists hang');
    expect(completed).toBe(3);
  } finally {
    polling = false;
    // Each poller ends with its request in flight, which its own deadline bounds.
    const settled = await withinDeadline(pollersDone, LIST_DEADLINE_MS + 1000, 'the list pollers to stop');
    failures = settled.flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason] : []));
  }
  expect(failures).toEqual([]);
  expect([...listAnswers.keys()]).toEqual([502]);
  expect(mostInFlight).toBeLessThanOrEqual(4);
  expect(await metric('powens_pool_rejections_total', { pool: 'lists' })).toBeGreaterThan(0);
  expect(await metric('powens_pool_rejections_total', { pool: 'exchange' })).toBe(0);
});
