// Remote commands are values built by one tagged template. Every interpolation is
// POSIX-single-quoted (remote /bin/sh is dash: zx's bash-only $'…' is not an option),
// arrays spread into several quoted words, `undefined` throws, and secrets are masked
// in the text meant for logs.

export class Secret {
  constructor(readonly value: string) {}
  toString(): string {
    return '********';
  }
  toJSON(): string {
    return '********';
  }
}

/** Wraps a value so that logs, diffs and errors show `********` instead of it. */
export const secret = (value: string | number): Secret => new Secret(String(value));

/** Text inserted verbatim (an operator, a redirection): never use it for data. */
export class Raw {
  constructor(readonly text: string) {}
}
export const raw = (text: string): Raw => new Raw(text);

export interface Command {
  /** what is sent to the host */
  readonly text: string;
  /** what may be shown: secrets replaced by ******** */
  readonly masked: string;
}

export const isCommand = (v: unknown): v is Command =>
  typeof v === 'object' && v !== null && typeof (v as Command).text === 'string' && typeof (v as Command).masked === 'string';

/** POSIX single quoting: 'it'\''s' — valid in sh, dash, bash, zsh. */
export function quote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

type Part = { text: string; masked: string };

function part(value: unknown, where: string): Part[] {
  if (value === undefined) throw new TypeError(`sh\`\`: undefined interpolated ${where}`);
  if (value === null) throw new TypeError(`sh\`\`: null interpolated ${where}`);
  if (Array.isArray(value)) return value.flatMap((v, i) => part(v, `${where}[${i}]`));
  if (value instanceof Secret) return [{ text: quote(value.value), masked: '********' }];
  if (value instanceof Raw) return [{ text: value.text, masked: value.text }];
  if (isCommand(value)) return [{ text: value.text, masked: value.masked }];
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    const q = quote(String(value));
    return [{ text: q, masked: q }];
  }
  throw new TypeError(`sh\`\`: cannot interpolate ${typeof value} ${where}`);
}

/**
 * sh`ip addr add ${cidr} dev ${dev}` → Command. Arrays become several words; a nested
 * Command is inserted as is (so commands compose); raw() inserts text verbatim.
 */
export function sh(strings: TemplateStringsArray, ...values: unknown[]): Command {
  let text = strings[0];
  let masked = strings[0];
  values.forEach((v, i) => {
    const parts = part(v, `at position ${i}`);
    text += parts.map((p) => p.text).join(' ') + strings[i + 1];
    masked += parts.map((p) => p.masked).join(' ') + strings[i + 1];
  });
  return { text, masked };
}

/** Joins commands with a shell operator, e.g. join([a, b], ' && '). */
export function join(cmds: Command[], sep = '; '): Command {
  return { text: cmds.map((c) => c.text).join(sep), masked: cmds.map((c) => c.masked).join(sep) };
}

/** A plain string turned into a Command (for commands typed by a user, e.g. ad-hoc). */
export const literal = (text: string): Command => ({ text, masked: text });
