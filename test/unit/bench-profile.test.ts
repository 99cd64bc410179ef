import { ownerOf, summarize } from '../../bench/profile.js';

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0 },
  children,
});

/** root -> express-session's end -> Node's setHeader -> a native write; a handler of ours; Node alone. */
const profile = {
  nodes: [
    frame(1, '(root)', '', [2, 6, 7, 8, 9]),
    frame(2, 'end', 'file:///srv/node_modules/express-session/index.js', [3]),
    frame(3, 'setHeader', 'node:_http_outgoing', [4]),
    frame(4, 'writeUtf8String', ''),
    frame(5, 'unused', 'file:///srv/dist/flows/routes.js'),
    frame(6, 'start', 'file:///srv/dist/flows/routes.js'),
    frame(7, '(garbage collector)', ''),
    frame(8, '(idle)', ''),
    frame(9, 'parserOnIncoming', 'node:_http_server'),
  ],
  samples: [4, 3, 6, 7, 8, 8, 9],
  timeDeltas: [3000, 1000, 2000, 4000, 10_000, 10_000, 1000],
};

describe('the bench profile summary', () => {
  test('charges Node and native work to the nearest package or app file that asked for it', () => {
    const s = summarize(profile);
    expect(s.busyMs).toBe(11);
    expect(s.charged).toEqual([
      { owner: 'pkg:express-session', ms: 4, share: 36.4 },
      { owner: '(garbage collector)', ms: 4, share: 36.4 },
      { owner: 'app:flows/routes.js', ms: 2, share: 18.2 },
      { owner: '(node only)', ms: 1, share: 9.1 },
    ]);
  });

  test('keeps self time where it was spent', () => {
    const s = summarize(profile);
    expect(s.owners.map((o) => o.owner)).toEqual(expect.arrayContaining(['(writeUtf8String)', 'node:_http_outgoing', 'app:flows/routes.js']));
    expect(s.owners.find((o) => o.owner === 'pkg:express-session')).toBeUndefined();
  });

  test('names the files of a build copied for bench:ab like those of dist/, and packages by their name', () => {
    expect(ownerOf('file:///srv/dist/flows/start.js', 'startFlow')).toBe('app:flows/start.js');
    expect(ownerOf('file:///srv/build/ab/main/flows/start.js', 'startFlow')).toBe('app:flows/start.js');
    expect(ownerOf('file:///srv/build/ab/main/node_modules/@opentelemetry/api/index.js', 'f')).toBe('pkg:@opentelemetry/api');
    expect(ownerOf('file:///srv/build/bench/ab.js', 'measure')).toBe('file:///srv/build/bench/ab.js');
  });
});
