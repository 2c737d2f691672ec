import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import client from '../../roles/client/index.ts';
import { checkSplit, parseProbe, probeCommand, verify, type Answer } from '../../roles/client/verify.ts';
import type { ModuleContext } from '../../lib/types.ts';
import { ACTIVE_ACTIVE, LAB, byModule, load, roleVars } from './lvs-fixtures.ts';

const two = [
  { name: 'real1', weight: 1 },
  { name: 'real2', weight: 1 },
];
/** answers in the given server order, all 200 */
const seq = (...servers: (string | number)[]): Answer[] =>
  servers.map((s, i) => (typeof s === 'number' ? { seq: i + 1, status: s } : { seq: i + 1, status: 200, server: s }));
const alternate = (n: number, names = ['real1', 'real2']) => seq(...Array.from({ length: n }, (_, i) => names[i % names.length]));

type Case = [name: string, answers: Answer[], servers: { name: string; weight: number }[], algo: Parameters<typeof checkSplit>[2], opts: Parameters<typeof checkSplit>[3], problems: RegExp[]];

const cases: Case[] = [
  ['rr 10/10', alternate(20), two, 'rr', { requests: 20 }, []],
  ['rr 11/9 is within ±1', seq(...alternate(18).map((a) => a.server!), 'real1', 'real1'), two, 'rr', { requests: 20 }, []],
  ['rr 12/8 is not', seq(...alternate(16).map((a) => a.server!), 'real1', 'real1', 'real1', 'real1'), two, 'rr', { requests: 20 }, [/rr split real1 12, real2 8 does not match the weights: expected real1 10, real2 10 \(±1\)/]],
  ['rr with one server never answering', seq(...Array(20).fill('real1')), two, 'rr', {}, [/real1 20, real2 0/]],
  ['rr ignores weights other than 0', alternate(20), [{ name: 'real1', weight: 3 }, { name: 'real2', weight: 1 }], 'rr', {}, []],
  ['rr over 3 servers, 20 requests: 7/7/6', alternate(20, ['a', 'b', 'c']), [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }], 'rr', {}, []],
  ['wrr 2:1 in proportion', alternate(21, ['real1', 'real1', 'real2']), [{ name: 'real1', weight: 2 }, { name: 'real2', weight: 1 }], 'wrr', {}, []],
  ['wrr 1:1 when 2:1 was asked', alternate(20), [{ name: 'real1', weight: 2 }, { name: 'real2', weight: 1 }], 'wrr', {}, [/wrr split .* expected real1 13\.33, real2 6\.67/]],
  ['weight 0 must stay silent', alternate(20), [{ name: 'real1', weight: 1 }, { name: 'real2', weight: 0 }], 'rr', {}, [/real2 has weight 0 but answered 10 requests/, /rr split/]],
  ['weight 0 silent: all to the other', seq(...Array(20).fill('real1')), [{ name: 'real1', weight: 1 }, { name: 'real2', weight: 0 }], 'rr', {}, []],
  ['failed requests', seq(...alternate(18).map((a) => a.server!), 0, 502), two, 'rr', { requests: 20 }, [/2 of 20 requests failed \(no answer ×1, HTTP 502 without served-by ×1\)/]],
  ['an unexpected server (down in the caller\'s view)', alternate(20), [{ name: 'real2', weight: 1 }], 'rr', {}, [/^real1 answered 10 requests but is not an expected real server \(real2\)$/]],
  ['fewer requests than asked', alternate(10), two, 'rr', { requests: 20 }, [/10 of 20 requests were made/]],
  ['sh: one client, one server', seq(...Array(20).fill('real2')), two, 'sh', {}, []],
  ['sh spread over two is wrong', alternate(20), two, 'sh', {}, [/sh hashes the client: one client should stick to one real server/]],
  ['persistence sticks even with rr', seq(...Array(20).fill('real1')), two, 'rr', { persistent: true }, []],
  ['persistence broken', alternate(20), two, 'rr', { persistent: true }, [/persistent service: one client should stick/]],
  ['wlc: both answered, no exact split', seq(...Array(15).fill('real1'), ...Array(5).fill('real2')), two, 'wlc', {}, []],
  ['wlc: one never answered', seq(...Array(20).fill('real1')), two, 'wlc', {}, [/real2 never answered/]],
];

for (const [name, answers, servers, algo, opts, problems] of cases) {
  test(`checkSplit: ${name}`, (t) => {
    const v = checkSplit(answers, servers, algo, opts);
    t.is(v.problems.length, problems.length, v.problems.join(' | '));
    problems.forEach((re, i) => t.regex(v.problems[i], re));
  });
}

test('parseProbe reads curl\'s output: status, served-by, failures', (t) => {
  const out = [
    '<!doctype html>', '<html>', '<pre>', 'served-by: real1', '</pre>', '</html>', '',
    'lvsplay-req code=200',
    '<html>Served-By: real-2.lab</html>',
    'lvsplay-req code=200',
    '',
    'lvsplay-req code=000',
    '<html>Bad gateway</html>',
    'lvsplay-req code=502',
    'noise',
    '',
  ].join('\n');
  t.deepEqual(parseProbe(out), [
    { seq: 1, status: 200, server: 'real1' },
    { seq: 2, status: 200, server: 'real-2.lab' },
    { seq: 3, status: 0 },
    { seq: 4, status: 502 },
  ]);
});

test('probeCommand is one curl, the URL quoted and repeated, a new connection per request', (t) => {
  const cmd = probeCommand("http://172.28.128.200:80/a'b", 20, 2);
  t.regex(cmd.text, /^curl -s -k -g -m 2 -H 'Connection: close' -w /);
  t.is(cmd.text.split(`'http://172.28.128.200:80/a'\\''b'`).length - 1, 20);
  t.throws(() => probeCommand('http://x/', 0, 2), { message: /positive integer/ });
});

// The remote part for real: the command under the local /bin/sh (dash on Debian) with curl, against
// an HTTP server on 127.0.0.1 that answers like two real servers behind rr.
const withCurl = existsSync('/usr/bin/curl') ? test : test.skip;
withCurl('the probe command under /bin/sh, parsed and checked', async (t) => {
  let n = 0;
  const server = http.createServer((_req, res) => {
    n++;
    if (n === 7) {
      res.writeHead(503).end('busy\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html>\n<pre>\nserved-by: real${n % 2 ? 1 : 2}\n</pre>\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', probeCommand(`http://127.0.0.1:${port}/`, 10, 2).text], { timeout: 30_000 });
    const answers = parseProbe(stdout);
    t.is(answers.length, 10);
    t.deepEqual(answers[6], { seq: 7, status: 503 });
    const v = checkSplit(answers, two, 'rr', { requests: 10 });
    t.deepEqual(v.counts, { real1: 4, real2: 5 }, 'the 503 took the 7th request, one of real1');
    t.deepEqual(v.problems, ['1 of 10 requests failed (HTTP 503 without served-by ×1)']);
  } finally {
    server.close();
  }
});

test('client tasks: curl and arping, then one verify over every TCP virtual service', async (t) => {
  const inv = await load(LAB);
  const tasks = client.tasks(roleVars(inv, client, 'client') as never);
  t.deepEqual(byModule(tasks, 'pkg')[0].args.names, ['curl', 'arping']);
  const [v] = byModule(tasks, 'lvs_verify');
  t.deepEqual(v.args, {
    targets: [{ vip: '172.28.128.200', port: 80, lbAlgo: 'rr', persistent: false, tls: false }],
    servers: two,
    requests: 20,
    tolerance: 1,
    timeoutSeconds: 2,
    settleSeconds: 15,
  });
  t.deepEqual(v.tags, ['verify']);

  const aa = await load(ACTIVE_ACTIVE);
  const [va] = byModule(client.tasks(roleVars(aa, client, 'client', { lvs_verify_expect: ['real2'] }) as never), 'lvs_verify');
  t.is(va.args.targets.length, 6, 'every VIP of the active-active layout');
  t.deepEqual(va.args.servers, [{ name: 'real2', weight: 1 }]);
});

// The settle loop for real: curl under /bin/sh against a server that refuses (503) for its first
// 1.5 s, as a VIP does while VRRP elects and the first checks are pending.
withCurl('lvs_verify settles: a cluster that is not ready yet is asked again until it serves; one that never does fails after settleSeconds', async (t) => {
  const ready = Date.now() + 1500;
  let n = 0;
  const server = http.createServer((_req, res) => {
    if (Date.now() < ready) return void res.writeHead(503).end('electing\n');
    res.writeHead(200).end(`served-by: real${(n++ % 2) + 1}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const lines: string[] = [];
  const ctx = {
    conn: { exec: async (cmd: { text: string }) => {
      const r = await promisify(execFile)('/bin/sh', ['-c', cmd.text], { timeout: 30_000 }).catch((e) => e);
      return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.code ?? 0 };
    } },
    log: (l: string) => lines.push(l),
  } as unknown as ModuleContext;
  const args = { targets: [{ vip: '127.0.0.1', port, lbAlgo: 'rr' as const, persistent: false }], servers: two, requests: 10, timeoutSeconds: 2 };
  try {
    await t.throwsAsync(verify.module.plan(ctx, { ...args, settleSeconds: 0 }), { message: /10 of 10 requests failed \(HTTP 503 without served-by ×10\)/ }, 'no settle: one round');
    lines.length = 0;
    t.is(await verify.module.plan(ctx, { ...args, settleSeconds: 15 }), null);
    t.regex(lines.join('\n'), /real1 5, real2 5/);
    t.regex(lines.join('\n'), /settled after \d+\.\d s \(\d+ rounds\)/);
  } finally {
    server.close();
  }
  await t.throwsAsync(verify.module.plan(ctx, { ...args, settleSeconds: Number('soon') }), { message: /settle seconds must be a number ≥ 0, got NaN/ });
  const refused = { ...args, targets: [{ ...args.targets[0]!, port: 1 }], settleSeconds: 2 };
  const t0 = Date.now();
  await t.throwsAsync(verify.module.plan(ctx, refused), { message: /10 of 10 requests failed \(no answer ×10\)\n\(still so after \d/ });
  t.true(Date.now() - t0 >= 2000, 'it kept trying for settleSeconds');
});
