// -e / --extra-vars, as ansible-playbook reads them (cli/__init__.py load_extra_vars):
//   -e 'k=v k2="two words"'   key=value pairs, values stay strings
//   -e '{"k": 1}' / '{k: [1, 2]}'   a JSON or YAML flow mapping
//   -e @vars.yml              a YAML/JSON file holding a mapping
// Later -e options override earlier ones, key by key (dicts replace).
import path from 'node:path';
import { errorAt, parseYaml, readYamlFile, showValue, type YamlSource } from './inventory.ts';
import { ConfigError } from './types.ts';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function parseExtraVars(args: string[], cwd: string = process.cwd()): Promise<Record<string, unknown>> {
  const vars: Record<string, unknown> = {};
  for (const arg of args) Object.assign(vars, await parseOne(arg, cwd));
  return vars;
}

async function parseOne(arg: string, cwd: string): Promise<Record<string, unknown>> {
  const text = arg.trim();
  const shown = `-e ${quote(arg)}`;
  if (text === '') return {};
  if (text.startsWith('@')) {
    const name = text.slice(1).trim();
    if (!name) throw new ConfigError(`${shown}: expected a file name after @`);
    return mappingOf(await readYamlFile(path.resolve(cwd, name), 'extra vars file'), 'the extra vars file');
  }
  if (text.startsWith('{') || text.startsWith('[')) return mappingOf(parseYaml(text, '-e', shown), 'the extra vars');
  return keyValues(text, shown);
}

function mappingOf(src: YamlSource, what: string): Record<string, unknown> {
  const data = src.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data) || data instanceof Date) {
    throw errorAt(src, [], `${what} must be a mapping of variables, got ${data == null ? 'nothing' : showValue(data)}`);
  }
  return data as Record<string, unknown>;
}

/** `a=1 b='x y'` → { a: '1', b: 'x y' }: words split on blanks outside quotes, as Ansible's parse_kv */
function keyValues(text: string, shown: string): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const word of words(text, shown)) {
    const eq = word.indexOf('=');
    if (eq === -1) {
      const hint = /\.(ya?ml|json)$/.test(word) ? ` (to read a file, write -e @${word})` : '';
      throw new ConfigError(`${shown}: ${JSON.stringify(word)} is not key=value; -e takes key=value pairs, a JSON/YAML mapping like '{"key": 1}', or @file.yml${hint}`);
    }
    const key = word.slice(0, eq);
    if (!VAR_NAME.test(key)) throw new ConfigError(`${shown}: ${JSON.stringify(key)} is not a valid variable name (letters, digits, _; not starting with a digit)`);
    vars[key] = word.slice(eq + 1);
  }
  return vars;
}

function words(text: string, shown: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new ConfigError(`${shown}: unterminated ${quote} quote`);
  if (word !== null) out.push(word);
  return out;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
