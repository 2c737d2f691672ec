// Ansible host patterns (https://docs.ansible.com/ansible/latest/inventory_guide/intro_patterns.html),
// following ansible/inventory/manager.py: split on ',' (or ':' when there is no ','), apply plain terms
// first, then '&' intersections, then '!' exclusions, whatever order they were written in.
import { ConfigError } from './types.ts';

export interface PatternInventory {
  /** host names in inventory order (an Inventory's Map of hosts does too) */
  hosts: string[] | Map<string, unknown>;
  /** group name → member host names (recursive), `all` and `ungrouped` included */
  groups: Map<string, string[]>;
}

interface Names {
  hosts: string[];
  groups: Map<string, string[]>;
}

const names = (inv: PatternInventory): Names => ({ hosts: Array.isArray(inv.hosts) ? inv.hosts : [...inv.hosts.keys()], groups: inv.groups });

/** Host names matching `pattern`, in Ansible's order. A pattern matching nothing gives []. */
export function matchPattern(pattern: string, inventory: PatternInventory): string[] {
  const inv = names(inventory);
  const terms = orderTerms(splitPattern(pattern, inv));
  if (terms.length === 0) return [];
  let selected: string[] = [];
  for (const term of terms) {
    if (term.startsWith('!')) {
      const drop = new Set(matchTerm(term.slice(1), inv));
      selected = selected.filter((h) => !drop.has(h));
    } else if (term.startsWith('&')) {
      const keep = new Set(matchTerm(term.slice(1), inv));
      selected = selected.filter((h) => keep.has(h));
    } else {
      const have = new Set(selected);
      selected.push(...matchTerm(term, inv).filter((h) => !have.has(h)));
    }
  }
  return selected; // Ansible's order (inventory/manager.py _evaluate_patterns): terms in turn, groups as Group.get_hosts
}

/**
 * The literal names in `pattern` (no glob, no regex) that are neither a host nor a group:
 * most likely typos, for the CLI to warn about (Ansible: "Could not match supplied host pattern").
 */
export function unknownNames(pattern: string, inventory: PatternInventory): string[] {
  const inv = names(inventory);
  const hosts = new Set(inv.hosts);
  const unknown: string[] = [];
  for (const term of splitPattern(pattern, inv)) {
    const bare = splitSubscript(term.replace(/^[!&]/, '')).expr;
    if (bare.startsWith('~') || /[*?[]/.test(bare)) continue;
    if (!hosts.has(bare) && !inv.groups.has(bare) && !unknown.includes(bare)) unknown.push(bare);
  }
  return unknown;
}

/**
 * The terms of `pattern` (without their '&'/'!' and [subscript]) that match no host, as Ansible's
 * _enumerate_matches warns: "Could not match supplied host pattern, ignoring: X".
 */
export function unmatchedTerms(pattern: string, inventory: PatternInventory): string[] {
  const inv = names(inventory);
  const out: string[] = [];
  for (const term of splitPattern(pattern, inv)) {
    const bare = term.replace(/^[!&]/, '');
    const expr = inv.hosts.includes(bare) ? bare : splitSubscript(bare).expr;
    if (['localhost', '127.0.0.1', '::1'].includes(expr) || out.includes(expr)) continue;
    if (enumerate(expr, inv).length === 0 && !inv.hosts.includes(expr)) out.push(expr);
  }
  return out;
}

/** 'a,b:c' → terms. Like Ansible, ':' separates only when there is no ',' (it may be part of a range or IPv6). */
export function splitPattern(pattern: string, inventory?: PatternInventory): string[] {
  const whole = pattern.trim();
  if (whole === '') return [];
  const inv = inventory && names(inventory);
  let parts: string[];
  if (whole.includes(',')) parts = whole.split(',');
  else if (inv && (inv.hosts.includes(whole) || inv.groups.has(whole))) parts = [whole];
  else parts = whole.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function orderTerms(terms: string[]): string[] {
  const plain = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  const and = terms.filter((t) => t.startsWith('&'));
  const not = terms.filter((t) => t.startsWith('!'));
  if (terms.length > 0 && plain.length === 0) plain.push('all'); // '!a' alone means 'all:!a'
  return [...plain, ...and, ...not];
}

/** One term without its '&'/'!': a host, a group, a glob or a ~regex, with an optional [i] / [i:j] subscript. */
function matchTerm(term: string, inv: Names): string[] {
  if (inv.hosts.includes(term)) return [term];
  const { expr, subscript } = splitSubscript(term);
  const found = enumerate(expr, inv);
  if (!subscript) return found;
  const [start, end] = subscript;
  if (end === undefined) {
    const h = found.at(start);
    return h === undefined ? [] : [h];
  }
  return found.slice(start, (end === -1 ? found.length - 1 : end) + 1);
}

function enumerate(expr: string, inv: Names): string[] {
  const re = toRegExp(expr);
  const out: string[] = [];
  const have = new Set<string>();
  const add = (h: string) => { if (!have.has(h)) { have.add(h); out.push(h); } };
  let groupMatched = false;
  for (const [name, members] of inv.groups) {
    if (re.test(name)) {
      groupMatched = true;
      members.forEach(add);
    }
  }
  // as Ansible: a pattern that names a group is not also tried on host names, unless it is a glob/regex
  if (!groupMatched || /^~|[.?*[]/.test(expr)) inv.hosts.filter((h) => re.test(h)).forEach(add);
  return out;
}

const SUBSCRIPT = /^(.+)\[(?:(-?\d+)|(\d+):(\d*))\]$/;

function splitSubscript(term: string): { expr: string; subscript?: [number, number?] } {
  if (term.startsWith('~')) return { expr: term };
  const m = SUBSCRIPT.exec(term);
  if (!m) return { expr: term };
  if (m[2] !== undefined) return { expr: m[1], subscript: [Number(m[2])] };
  return { expr: m[1], subscript: [Number(m[3]), m[4] === '' ? -1 : Number(m[4])] };
}

function toRegExp(expr: string): RegExp {
  if (expr.startsWith('~')) {
    try {
      return new RegExp(`^(?:${expr.slice(1)})`); // Python's re.match: anchored at the start only
    } catch (e) {
      throw new ConfigError(`invalid host pattern "${expr}": ${(e as Error).message}`);
    }
  }
  return globToRegExp(expr);
}

/** fnmatch.translate: * ? [seq] [!seq], whole-name match, case-sensitive. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) { re += '\\['; continue; }
      const body = glob.slice(i + 1, close).replace(/[\\\]]/g, '\\$&');
      re += body.startsWith('!') ? `[^${body.slice(1)}]` : /^[\^[]/.test(body) ? `[\\${body}]` : `[${body}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^(?:${re})$`, 's');
}
