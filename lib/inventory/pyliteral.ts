// Python's ast.literal_eval for INI inventory values (Ansible's ini plugin _parse_value): a value
// that is a Python literal becomes that value (1, 1.5, True, None, [1, 2], {'k': 1}, 'text'),
// anything else stays the string as written. Complex numbers, sets and bytes prefixes other than
// b'' are left as strings (JSON, and so lvsplay, has no such types).

export const NOT_LITERAL = Symbol('not a literal');

const MAX_DEPTH = 100; // Python's own parser gives up around here too

export function literalEval(text: string): unknown {
  const p = new Parser(text);
  try {
    p.space();
    const v = p.value(0);
    p.space();
    if (p.i < text.length) return NOT_LITERAL;
    return v;
  } catch (e) {
    if (e === NOT_LITERAL) return NOT_LITERAL;
    throw e;
  }
}

/** The ini plugin's _parse_value: a literal, or the text itself. */
export function iniValue(text: string): unknown {
  const v = literalEval(text);
  return v === NOT_LITERAL ? text : v;
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(): never {
    throw NOT_LITERAL;
  }

  /** whitespace, and a # comment to the end (Python's tokenizer allows both) */
  space() {
    for (;;) {
      while (this.i < this.s.length && /[ \t\f\r\n]/.test(this.s[this.i])) this.i++;
      if (this.s[this.i] === '#') {
        while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
      } else return;
    }
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail();
    const c = this.s[this.i];
    if (c === '[') return this.sequence(']', depth);
    if (c === '(') return this.tuple(depth);
    if (c === '{') return this.dict(depth);
    if (c === '+' || c === '-') {
      this.i++;
      this.space();
      const n = this.value(depth + 1);
      if (typeof n !== 'number') this.fail();
      return c === '-' ? -n : n;
    }
    const str = this.strings();
    if (str !== undefined) return str;
    const word = /^[A-Za-z_]\w*/.exec(this.s.slice(this.i))?.[0];
    if (word !== undefined && !/^[rRbBuU]{1,2}['"]/.test(this.s.slice(this.i))) {
      this.i += word.length;
      if (word === 'True') return true;
      if (word === 'False') return false;
      if (word === 'None') return null;
      this.fail();
    }
    return this.number();
  }

  sequence(close: string, depth: number): unknown[] {
    this.i++;
    const out: unknown[] = [];
    for (;;) {
      this.space();
      if (this.s[this.i] === close) { this.i++; return out; }
      out.push(this.value(depth + 1));
      this.space();
      if (this.s[this.i] === ',') { this.i++; continue; }
      if (this.s[this.i] === close) { this.i++; return out; }
      this.fail();
    }
  }

  tuple(depth: number): unknown {
    this.i++;
    this.space();
    if (this.s[this.i] === ')') { this.i++; return []; }
    const first = this.value(depth + 1);
    this.space();
    if (this.s[this.i] === ')') { this.i++; return first; } // (x) is x
    if (this.s[this.i] !== ',') this.fail();
    // sequence() skips the ',' as if it were the opening bracket
    const rest = this.sequence(')', depth);
    return [first, ...rest];
  }

  dict(depth: number): Record<string, unknown> {
    this.i++;
    const out: Record<string, unknown> = {};
    for (;;) {
      this.space();
      if (this.s[this.i] === '}') { this.i++; return out; }
      const key = this.value(depth + 1);
      if (key !== null && typeof key === 'object') this.fail(); // unhashable, or a set/dict key
      this.space();
      if (this.s[this.i] !== ':') this.fail(); // a set literal: left as a string
      this.i++;
      this.space();
      out[key === null ? 'None' : typeof key === 'boolean' ? (key ? 'True' : 'False') : String(key)] = this.value(depth + 1);
      this.space();
      if (this.s[this.i] === ',') { this.i++; continue; }
      if (this.s[this.i] === '}') { this.i++; return out; }
      this.fail();
    }
  }

  /** one or more adjacent string literals ('a' "b" is 'ab'), or undefined when none starts here */
  strings(): string | undefined {
    let out: string | undefined;
    for (;;) {
      const m = /^([rRbBuU]{0,2})('''|"""|'|")/.exec(this.s.slice(this.i));
      if (!m || /[uU]/.test(m[1]) && m[1].length > 1) return out;
      const raw = /[rR]/.test(m[1]);
      const quote = m[2];
      this.i += m[0].length;
      let text = '';
      for (;;) {
        if (this.i >= this.s.length) this.fail();
        if (this.s.startsWith(quote, this.i)) { this.i += quote.length; break; }
        const c = this.s[this.i];
        if (c === '\n' && quote.length === 1) this.fail();
        if (c === '\\') {
          const next = this.s[this.i + 1];
          if (next === undefined) this.fail();
          if (raw) { text += c + next; this.i += 2; continue; }
          this.i += 2;
          text += this.escape(next);
          continue;
        }
        text += c;
        this.i++;
      }
      out = (out ?? '') + text;
      const save = this.i;
      this.space();
      if (!/^[rRbBuU]{0,2}['"]/.test(this.s.slice(this.i))) { this.i = save; return out; }
    }
  }

  escape(c: string): string {
    const simple: Record<string, string> = { '\n': '', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
    if (c in simple) return simple[c];
    const hex = (len: number) => {
      const h = this.s.slice(this.i, this.i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) this.fail();
      this.i += len;
      return String.fromCodePoint(parseInt(h, 16));
    };
    if (c === 'x') return hex(2);
    if (c === 'u') return hex(4);
    if (c === 'U') return hex(8);
    if (/[0-7]/.test(c)) {
      const m = /^[0-7]{0,2}/.exec(this.s.slice(this.i))![0];
      this.i += m.length;
      return String.fromCharCode(parseInt(c + m, 8));
    }
    return `\\${c}`; // Python keeps unknown escapes as written
  }

  number(): number {
    const rest = this.s.slice(this.i);
    const m =
      /^0[xX](?:_?[0-9a-fA-F])+/.exec(rest) ?? /^0[oO](?:_?[0-7])+/.exec(rest) ?? /^0[bB](?:_?[01])+/.exec(rest) ??
      /^(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][-+]?\d(?:_?\d)*)?/.exec(rest);
    if (!m || m[0] === '') this.fail();
    const t = m[0].replace(/_/g, '');
    if (/[jJ]/.test(rest[m[0].length] ?? '') || /^[\w.]/.test(rest.slice(m[0].length))) this.fail();
    this.i += m[0].length;
    if (/^0[xX]/.test(t)) return parseInt(t.slice(2), 16);
    if (/^0[oO]/.test(t)) return parseInt(t.slice(2), 8);
    if (/^0[bB]/.test(t)) return parseInt(t.slice(2), 2);
    if (/^0\d/.test(t) && /^\d+$/.test(t) && !/^0+$/.test(t)) this.fail(); // 0755: a SyntaxError in Python 3
    return Number(t);
  }
}
