// Ansible host patterns: names, groups, globs, regexes, unions, intersections, exclusions, subscripts.
import test from 'ava';
import { globToRegExp, matchPattern, splitPattern, unknownNames, type PatternInventory } from '../../lib/patterns.ts';
import { ConfigError } from '../../lib/types.ts';

// the lab's shape plus an empty group, a host named like a glob target, and a nested group
const inv: PatternInventory = {
  hosts: ['bal1', 'bal2', 'real1', 'real2', 'client', 'mail.example.com'],
  groups: new Map([
    ['all', ['bal1', 'bal2', 'real1', 'real2', 'client', 'mail.example.com']],
    ['ungrouped', ['mail.example.com']],
    ['directors', ['bal1', 'bal2']],
    ['realservers', ['real1', 'real2']],
    ['clients', ['client']],
    ['lvs', ['bal1', 'bal2', 'real1', 'real2']], // parent of directors and realservers
    ['primary', ['bal1', 'real1']],
    ['empty', []],
  ]),
};

const table: Array<[pattern: string, expected: string[]]> = [
  ['all', ['bal1', 'bal2', 'real1', 'real2', 'client', 'mail.example.com']],
  ['*', ['bal1', 'bal2', 'real1', 'real2', 'client', 'mail.example.com']],
  ['bal1', ['bal1']],
  ['directors', ['bal1', 'bal2']],
  ['lvs', ['bal1', 'bal2', 'real1', 'real2']],
  ['ungrouped', ['mail.example.com']],
  ['empty', []],
  ['nosuch', []],
  // globs match group names and host names
  ['bal*', ['bal1', 'bal2']],
  ['real?', ['real1', 'real2']],
  ['*.example.com', ['mail.example.com']],
  ['rea[lx]?', ['real1', 'real2']],
  ['real[12]', []], // as in Ansible, a trailing [12] is a subscript, not a character class
  ['real[!1]', ['real2']],
  ['dir*', ['bal1', 'bal2']],
  // regex (Python re.match: anchored at the start)
  ['~(bal|real)1', ['bal1', 'real1']],
  ['~real', ['real1', 'real2']],
  // union, with ':' or ',' (result in inventory order, duplicates once)
  // terms in the order written, as Ansible (checked: `ansible -i … 'late:web-servers[0:1]' --list-hosts`)
  ['client:directors', ['client', 'bal1', 'bal2']],
  ['client,directors', ['client', 'bal1', 'bal2']],
  ['directors:lvs', ['bal1', 'bal2', 'real1', 'real2']],
  ['directors , clients', ['bal1', 'bal2', 'client']],
  // intersection
  ['lvs:&primary', ['bal1', 'real1']],
  ['directors:&realservers', []],
  ['lvs,&primary,&real*', ['real1']],
  // exclusion
  ['all:!directors', ['real1', 'real2', 'client', 'mail.example.com']],
  ['lvs:!bal2', ['bal1', 'real1', 'real2']],
  ['!directors', ['real1', 'real2', 'client', 'mail.example.com']], // alone: all minus directors
  ['&primary', ['bal1', 'real1']], // alone: all ∩ primary
  // order does not matter: unions first, then &, then !
  ['!bal1:directors', ['bal2']],
  ['&primary:!real1:lvs', ['bal1']],
  ['!realservers:&lvs:directors:clients', ['bal1', 'bal2']],
  // subscripts
  ['lvs[0]', ['bal1']],
  ['lvs[-1]', ['real2']],
  ['lvs[1:2]', ['bal2', 'real1']],
  ['lvs[2:]', ['real1', 'real2']],
  ['lvs[9]', []],
  ['', []],
  ['  ', []],
];

for (const [pattern, expected] of table) {
  test(`pattern ${JSON.stringify(pattern)}`, (t) => {
    t.deepEqual(matchPattern(pattern, inv), expected);
  });
}

test('splitPattern: commas win over colons; [a:b] and exact names are kept whole', (t) => {
  t.deepEqual(splitPattern('a:b:&c:!d'), ['a', 'b', '&c', '!d']);
  t.deepEqual(splitPattern('a:b,c'), ['a:b', 'c']);
  t.deepEqual(splitPattern('web[1:3]:db'), ['web[1:3]', 'db']);
  const withColon: PatternInventory = { hosts: ['fe80::1'], groups: new Map([['all', ['fe80::1']]]) };
  t.deepEqual(splitPattern('fe80::1', withColon), ['fe80::1']);
  t.deepEqual(matchPattern('fe80::1', withColon), ['fe80::1']);
});

test('unknownNames: literal names that are neither host nor group; globs, regexes and known names are fine', (t) => {
  t.deepEqual(unknownNames('directors:&primary:!bal2', inv), []);
  t.deepEqual(unknownNames('directorz:!bal3:bal*:~x.*:lvs[0]', inv), ['directorz', 'bal3']);
  t.deepEqual(unknownNames('empty', inv), []);
  t.deepEqual(unknownNames('typo[0]', inv), ['typo']);
});

test('an invalid regex is a ConfigError naming the pattern', (t) => {
  const e = t.throws(() => matchPattern('~bal(', inv), { instanceOf: ConfigError });
  t.regex(e!.message, /invalid host pattern "~bal\("/);
});

test('globToRegExp follows fnmatch: special regex characters are literal', (t) => {
  t.true(globToRegExp('a.b+c').test('a.b+c'));
  t.false(globToRegExp('a.b').test('axb'));
  t.true(globToRegExp('x[]]').test('x]'));
  t.false(globToRegExp('bal*').test('xbal1'));
});
