// YAML as Ansible reads it (PyYAML's YAML 1.1 resolvers), with positions for messages.
//
// PyYAML differs from the `yaml` library's 1.1 schema on plain scalars; these follow PyYAML
// (yaml/resolver.py), checked against ansible-inventory 2.14 (test/unit/inventory-ansible.test.ts):
// - booleans: yes/no/true/false/on/off in three casings; `y`, `n`, `Y`, `N` stay strings;
// - floats need a dot (`1e3` is a string, `1.5e+3` a float); `09` is a string, `0755` octal;
// - timestamps (`2024-01-01`) stay strings: lvsplay has no date type and keeps what was written;
// - unknown tags (`!!python/object/apply`, `!foo`) are refused; Ansible's `!unsafe` is a string,
//   `!vault` is refused (no vault support).
// Duplicate keys are refused (Ansible warns and keeps the last), checked in one linear pass:
// the library's own uniqueKeys check is quadratic in the size of a mapping.
import {
  LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit,
  type Document, type Pair, type ScalarTag, type Tags,
} from 'yaml';
import { ConfigError } from '../types.ts';
import { readText, shownPath } from './text.ts';

export interface YamlSource {
  /** absolute path */
  file: string;
  /** as shown in messages: relative to the working directory when inside it */
  shown: string;
  doc: Document.Parsed;
  lines: LineCounter;
  data: unknown;
}

export type KeyPath = readonly (string | number)[];

const Y = 'tag:yaml.org,2002:';
const num = (s: string) => s.replace(/_/g, '');

/** Integer from PyYAML's int forms (sign, 0b, 0x, leading-0 octal, base 60). */
function pyInt(src: string): number {
  let s = num(src);
  const sign = s.startsWith('-') ? -1 : 1;
  if (/^[-+]/.test(s)) s = s.slice(1);
  if (s === '0') return 0;
  if (s.startsWith('0b')) return sign * parseInt(s.slice(2), 2);
  if (s.startsWith('0x')) return sign * parseInt(s.slice(2), 16);
  if (s.startsWith('0')) return sign * parseInt(s, 8);
  if (s.includes(':')) return sign * s.split(':').reduce((acc, d) => acc * 60 + Number(d), 0);
  return sign * Number(s);
}

function pyFloat(src: string): number {
  const s = num(src).toLowerCase();
  if (s.endsWith('.inf')) return s.startsWith('-') ? -Infinity : Infinity;
  if (s.endsWith('.nan')) return NaN;
  if (s.includes(':')) {
    const sign = s.startsWith('-') ? -1 : 1;
    return sign * s.replace(/^[-+]/, '').split(':').reduce((acc, d) => acc * 60 + Number(d), 0);
  }
  return Number(s);
}

const scalar = (tag: string, test: RegExp, resolve: (s: string) => unknown, format?: string): ScalarTag =>
  ({ identify: () => false, default: true, tag, test, resolve, ...(format ? { format } : {}) }) as ScalarTag;

/** PyYAML's implicit resolvers (yaml/resolver.py, YAML 1.1) */
const PY_TAGS: ScalarTag[] = [
  scalar(`${Y}null`, /^(?:~|null|Null|NULL|)$/, () => null),
  scalar(`${Y}bool`, /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/, () => true),
  scalar(`${Y}bool`, /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/, () => false),
  scalar(`${Y}int`, /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/, pyInt),
  scalar(`${Y}float`, /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/, pyFloat),
  // Ansible's tags: !unsafe marks a string never templated (lvsplay does not template inventory values)
  { tag: '!unsafe', resolve: (s: string) => s } as ScalarTag,
];

/** Keep the library's collection and explicit-only tags (map, seq, str, binary, set, omap, pairs, merge); resolve plain scalars as PyYAML. */
const customTags = (tags: Tags): Tags => [
  ...tags.filter((t) => {
    const name = (t as { tag: string }).tag;
    return ![`${Y}null`, `${Y}bool`, `${Y}int`, `${Y}float`, `${Y}timestamp`].includes(name);
  }),
  ...PY_TAGS,
];

/** Reads and parses a YAML file as Ansible does, refusing duplicate keys and unknown tags. */
export async function readYamlFile(file: string, what = 'file'): Promise<YamlSource> {
  const { text, shown } = await readText(file, what);
  return parseYaml(text, file, shown);
}

export function parseYaml(text: string, file: string, shown = shownPath(file)): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines, uniqueKeys: false, version: '1.1', schema: 'yaml-1.1',
    customTags, prettyErrors: true,
  });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new ConfigError(`YAML: ${yamlMessage(err.message)}`, shown, pos?.line, pos?.col);
  }
  const tagWarning = doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tagWarning) {
    const pos = lines.linePos(tagWarning.pos[0]);
    const tag = /Unresolved tag: (\S+)/.exec(tagWarning.message)?.[1] ?? 'tag';
    const shownTag = tag.replace(Y, '!!');
    const why = shownTag === '!vault' ? 'vault-encrypted values are not supported' : 'only the standard YAML tags and !unsafe are read';
    throw new ConfigError(`YAML: unknown tag ${shownTag}: ${why}`, shown, pos.line, pos.col);
  }
  checkUniqueKeys(doc, text, lines, shown);
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc)) return;
      const pos = lines.linePos(alias.range?.[0] ?? 0);
      throw new ConfigError(`YAML: unknown alias *${alias.source}: no &${alias.source} anchor before it`, shown, pos.line, pos.col);
    },
  });
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (e) {
    throw new ConfigError(`YAML: ${(e as Error).message}`, shown);
  }
  return { file, shown, doc, lines, data };
}

/** One pass over every mapping (iterative: depth is no limit), a Set per mapping. */
function checkUniqueKeys(doc: Document.Parsed, text: string, lines: LineCounter, shown: string) {
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key) && key.value !== '<<' && typeof key.value !== 'symbol') {
          const k = String(key.value);
          if (seen.has(k)) {
            const start = key.range?.[0] ?? 0;
            const pos = lines.linePos(start);
            const shownKey = /^[^:\n]*/.exec(text.slice(start))![0].trim();
            throw new ConfigError(`YAML: duplicate key ${JSON.stringify(shownKey)}: map keys must be unique`, shown, pos.line, pos.col);
          }
          seen.add(k);
        }
        stack.push(pair.value);
      }
    } else if (isSeq(node)) stack.push(...node.items);
  }
}

/** yaml's pretty message minus its "at line L, column C" (the prefix says where) */
function yamlMessage(message: string): string {
  return message.replace(/ at line \d+, column \d+:?/, '').trimEnd();
}

/** Line and column of the node at `keyPath` (its key or its value), or of the deepest ancestor found. */
export function positionOf(src: YamlSource, keyPath: KeyPath, at: 'key' | 'value' = 'value'): { line: number; col: number } {
  let node: unknown = src.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < keyPath.length; i++) {
    node = deref(src, node);
    const seg = keyPath[i];
    if (isMap(node)) {
      const pair = findPair(src, node, String(seg));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      if (i === keyPath.length - 1 && at === 'key') break;
      const value = deref(src, pair.value);
      if (value != null && !(isScalar(value) && value.value == null)) offset = rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] != null) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else break;
  }
  return src.lines.linePos(offset);
}

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null)?.range?.[0];
}

function deref(src: YamlSource, node: unknown): unknown {
  return isAlias(node) ? node.resolve(src.doc) : node;
}

function findPair(src: YamlSource, map: { items: Pair[] }, key: string, depth = 0): Pair | undefined {
  const isMerge = (p: Pair) => isScalar(p.key) && (typeof p.key.value === 'symbol' || p.key.value === '<<');
  // the last one wins, as in toJS (duplicates are refused anyway)
  let own: Pair | undefined;
  for (const p of map.items) if (!isMerge(p) && isScalar(p.key) && String(p.key.value) === key) own = p;
  if (own || depth > 20) return own;
  for (const p of map.items.filter(isMerge)) {
    const v = deref(src, p.value);
    const sources = isSeq(v) ? v.items.map((it) => deref(src, it)) : [v];
    for (const s of sources) {
      const found = isMap(s) ? findPair(src, s, key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** `all.children.web.hosts.h1.ansible_port`, `all.hosts["mail.example.com"]` */
export function dotted(keyPath: KeyPath): string {
  return keyPath
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : !/^[\w-]+$/.test(k) ? `[${JSON.stringify(k)}]` : i === 0 ? k : `.${k}`))
    .join('');
}

/** `file:line:col: key.path: message` */
export function errorAt(src: YamlSource, keyPath: KeyPath, message: string, at: 'key' | 'value' = 'value'): ConfigError {
  const { line, col } = positionOf(src, keyPath, at);
  return new ConfigError(keyPath.length ? `${dotted(keyPath)}: ${message}` : message, src.shown, line, col);
}
