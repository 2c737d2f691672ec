// Host entries as Ansible reads them: `name:port`, `[v6::1]:port`, ranges `www[01:03]`, `db-[a:c]`,
// `[1:9:2]` strides (lib/ansible/parsing/utils/addresses.py parse_address, plugins/inventory
// expand_hostname_range).

/** `www[01:03].example.com:2222` → names and port; `fail` makes the error for a bad entry. */
export function parseHostKey(key: string, fail: (msg: string) => Error, allowRanges = true): { names: string[]; port?: number } {
  let name = key.trim();
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(name); // [v6::addr]:port
  const m = bracketed && bracketed[1].includes(':') ? null : /^((?:[^:[\]]|\[[^\]]*\])+):(\d+)$/.exec(name);
  if (bracketed && bracketed[1].includes(':')) {
    name = bracketed[1];
    if (bracketed[2] !== undefined) port = portOf(bracketed[2], key, fail);
  } else if (m) {
    port = portOf(m[2], key, fail);
    name = m[1];
  } else if (/^[^:]+:$/.test(name)) {
    throw fail(`invalid host "${key}": a trailing ':' must be followed by a port`);
  }
  const names = allowRanges && name.includes('[') && !name.includes('::') ? expandRanges(name, fail) : [name];
  for (const n of names) {
    if (n === '' || /[\s,[\]]/.test(n)) throw fail(`invalid host name ${JSON.stringify(n)}`);
  }
  return { names, port };
}

function portOf(text: string, key: string, fail: (msg: string) => Error): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail(`port in host "${key}": expected an integer 1..65535, got ${text}`);
  return port;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const MAX_HOSTS = 100_000;

/** Ansible's expand_hostname_range, iterative over several [..] in one name. */
export function expandRanges(pattern: string, fail: (msg: string) => Error): string[] {
  let names = [pattern];
  while (names[0].includes('[')) {
    const next: string[] = [];
    for (const name of names) {
      const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(name);
      if (!m) throw fail(`host range in "${pattern}": '[' without a closing ']'`);
      const [, head, range, tail] = m;
      for (const item of rangeItems(range, fail)) next.push(`${head}${item}${tail}`);
      if (next.length > MAX_HOSTS) throw fail(`host range in "${pattern}": more than ${MAX_HOSTS} hosts`);
    }
    names = next;
  }
  return names;
}

function rangeItems(range: string, fail: (msg: string) => Error): string[] {
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw fail(`host range [${range}]: expected [begin:end] or [begin:end:step]`);
  const beg = bounds[0] || '0';
  const end = bounds[1];
  if (!end) throw fail(`host range [${range}]: the end is missing`);
  const step = bounds.length === 3 ? Number(bounds[2]) : 1;
  if (!Number.isInteger(step) || step < 1) throw fail(`host range [${range}]: the step must be a positive integer`);
  const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
  if (width && end.length !== width) throw fail(`host range [${range}]: zero-padded begin and end must have the same length`);
  const items: string[] = [];
  if (LETTERS.includes(beg) && beg.length === 1 && LETTERS.includes(end) && end.length === 1) {
    const [b, e] = [LETTERS.indexOf(beg), LETTERS.indexOf(end)];
    if (b > e) throw fail(`host range [${range}]: begin must not come after end`);
    for (let i = b; i <= e; i += step) items.push(LETTERS[i]);
    return items;
  }
  if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) throw fail(`host range [${range}]: expected numbers or single letters`);
  const [b, e] = [Number(beg), Number(end)];
  if (b > e) throw fail(`host range [${range}]: begin must not come after end`);
  if ((e - b) / step > MAX_HOSTS) throw fail(`host range [${range}]: more than ${MAX_HOSTS} hosts`);
  for (let i = b; i <= e; i += step) items.push(String(i).padStart(width, '0'));
  return items;
}
