import test from 'ava';
import { execFileSync } from 'node:child_process';
import { isCommand, join, literal, quote, raw, secret, sh } from '../../lib/shell.ts';

const quoteTable: Array<[string, string]> = [
  ['', "''"],
  ['plain', 'plain'],
  ['/etc/keepalived/keepalived.conf', '/etc/keepalived/keepalived.conf'],
  ['10.0.0.10/32', '10.0.0.10/32'],
  ['key=value,a:b@c%d+e', 'key=value,a:b@c%d+e'],
  ['two words', "'two words'"],
  ["it's", "'it'\\''s'"],
  ["''", "''\\'''\\'''"],
  ['"dq"', `'"dq"'`],
  ['$(id)', "'$(id)'"],
  ['`id`', "'`id`'"],
  ['$HOME', "'$HOME'"],
  ['a\nb', "'a\nb'"],
  ['tab\there', "'tab\there'"],
  ['*', "'*'"],
  ['~', "'~'"],
  ['a;b|c&d', "'a;b|c&d'"],
  ['-n', '-n'],
  ['ünï 😀', "'ünï 😀'"],
  ['back\\slash', "'back\\slash'"],
];

for (const [input, expected] of quoteTable) {
  test(`quote(${JSON.stringify(input)})`, (t) => {
    t.is(quote(input), expected);
  });
}

// The table's promise, checked by a real POSIX shell: each quoted word comes back byte for byte.
test('quoted words survive a real dash unchanged', (t) => {
  const words = quoteTable.map(([input]) => input);
  const script = `for w in ${words.map(quote).join(' ')}; do printf '%s\\0' "$w"; done`;
  const out = execFileSync('/bin/dash', ['-c', script], { encoding: 'utf8' });
  t.deepEqual(out.split('\0').slice(0, -1), words);
});

test('sh`` quotes every interpolation and leaves the template text alone', (t) => {
  const cmd = sh`ip addr add ${'10.0.0.10/32'} dev ${'lo'} label ${'lo:vip one'}`;
  t.is(cmd.text, "ip addr add 10.0.0.10/32 dev lo label 'lo:vip one'");
  t.is(cmd.masked, cmd.text);
  t.true(isCommand(cmd));
});

test('sh`` spreads arrays into several quoted words (and nested arrays)', (t) => {
  t.is(sh`apt-get install -y ${['nginx-light', 'keepalived', "it's"]}`.text, "apt-get install -y nginx-light keepalived 'it'\\''s'");
  t.is(sh`x ${[['a b'], 'c']}`.text, "x 'a b' c");
  t.is(sh`x ${[]} y`.text, 'x  y');
});

test('sh`` renders numbers, booleans and bigints as words', (t) => {
  t.is(sh`sysctl -w ${'net.ipv4.ip_forward'}=${0} ${true} ${10n}`.text, 'sysctl -w net.ipv4.ip_forward=0 true 10');
});

test('sh`` throws on undefined and null, naming the position', (t) => {
  const e1 = t.throws(() => sh`echo ${'a'} ${undefined}`, { instanceOf: TypeError });
  t.regex(e1!.message, /undefined.*position 1/);
  const e2 = t.throws(() => sh`echo ${null}`, { instanceOf: TypeError });
  t.regex(e2!.message, /null/);
  t.throws(() => sh`echo ${['a', undefined]}`, { message: /undefined.*\[1\]/ });
  t.throws(() => sh`echo ${{ a: 1 }}`, { message: /cannot interpolate object/ });
});

test('secrets are in .text but masked in .masked, also through nesting and join', (t) => {
  const pw = secret("s3cr3t 'pw'");
  const cmd = sh`printf %s ${pw} | chpasswd`;
  t.is(cmd.text, "printf %s 's3cr3t '\\''pw'\\''' | chpasswd");
  t.is(cmd.masked, 'printf %s ******** | chpasswd');
  t.false(cmd.masked.includes('s3cr3t'));
  const nested = sh`sh -c ${cmd}`;
  t.true(nested.text.includes('s3cr3t'));
  t.false(nested.masked.includes('s3cr3t'));
  const joined = join([sh`true`, cmd], ' && ');
  t.is(joined.text, `true && ${cmd.text}`);
  t.is(joined.masked, 'true && printf %s ******** | chpasswd');
  t.is(String(pw), '********');
  t.is(JSON.stringify({ pw }), '{"pw":"********"}');
  t.is(secret(1234).value, '1234');
});

test('raw() is inserted verbatim and a nested Command is not re-quoted', (t) => {
  const inner = sh`echo ${'a b'}`;
  t.is(sh`${inner} ${raw('>/dev/null 2>&1')}`.text, "echo 'a b' >/dev/null 2>&1");
});

test('join() uses "; " by default; literal() wraps user-typed text unchanged', (t) => {
  t.is(join([sh`a`, sh`b ${'c d'}`]).text, "a; b 'c d'");
  t.deepEqual(literal('uptime && df -h'), { text: 'uptime && df -h', masked: 'uptime && df -h' });
  t.is(join([]).text, '');
});
