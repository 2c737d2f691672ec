// template: an EJS file rendered locally, compared by sha256, uploaded only when it differs.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { defineModule } from '../module.ts';
import { isLazyFactsView, NeedFacts } from '../lazy-facts.ts';
import { Secret } from '../shell.ts';
import type { ModuleContext } from '../types.ts';
import { redactLines, redactValues, secretLinePatterns } from '../diff.ts';
import { applyContent, planContent, type Attrs, type WantedFile } from './remote-file.ts';

export interface TemplateArgs extends Attrs {
  /** relative to <roleDir>/templates/, or absolute */
  src: string;
  dest: string;
  /** run on the uploaded temp file before it replaces dest; `%s` is the temp path */
  validate?: string;
  /** extra vars, over the task's vars */
  vars?: Record<string, unknown>;
  /** var paths (`keepalived.auth_pass`) whose values are masked in diffs and logs */
  secrets?: string[];
}

export function templatePath(src: string, roleDir?: string): string {
  if (path.isAbsolute(src)) return src;
  if (!roleDir) throw new Error(`template: src ${JSON.stringify(src)} is relative but the task has no role directory`);
  return path.join(roleDir, 'templates', src);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * A copy of `vars` fit for rendering: every Secret replaced by its value, or by `token` when
 * given (then the values at `paths` too). Also returns every secret value found.
 */
export function prepareVars(
  vars: Record<string, unknown>,
  paths: string[] = [],
  token?: string,
): { vars: Record<string, unknown>; secrets: string[] } {
  const secrets: string[] = [];
  const seen = new Map<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (isLazyFactsView(v)) return v; // read on demand by the template itself, holds no secret
    if (v instanceof Secret) {
      secrets.push(v.value);
      return token ?? v.value;
    }
    if (Array.isArray(v) || isPlainObject(v)) {
      if (seen.has(v)) return seen.get(v);
      const out: any = Array.isArray(v) ? [] : {};
      seen.set(v, out);
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  const copy = walk(vars) as Record<string, unknown>;

  const isContainer = (v: unknown): v is Record<string, unknown> => Array.isArray(v) || isPlainObject(v);
  const leaves = (v: unknown): string[] =>
    v === undefined || v === null ? [] : isContainer(v) ? Object.values(v).flatMap(leaves) : [String(v)];
  const tokenise = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(tokenise) : isPlainObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tokenise(x)])) : v == null ? v : token;
  for (const p of paths) {
    const keys = p.split('.');
    const last = keys.pop()!;
    let parent: unknown = copy;
    for (const k of keys) parent = isContainer(parent) ? parent[k] : undefined;
    if (!isContainer(parent) || !(last in parent)) throw new Error(`template: secret var ${JSON.stringify(p)} is not defined`);
    secrets.push(...leaves(parent[last]));
    if (token !== undefined) parent[last] = tokenise(parent[last]);
  }
  return { vars: copy, secrets };
}

// ejs is loaded by the first template task, not at import (start-up of --help, --list-hosts).
let ejsModule: typeof import('ejs') | undefined;
export const loadEjs = async () => (ejsModule ??= (await import('ejs')).default);

export function render(text: string, vars: Record<string, unknown>, filename: string): string {
  if (!ejsModule) throw new Error('template: ejs is not loaded yet (renderTemplate loads it)');
  const ejs = ejsModule;
  try {
    return ejs.render(text, vars, { filename, async: false });
  } catch (err) {
    if (err instanceof NeedFacts) throw err;
    const msg = (err as Error).message;
    throw new Error(msg.includes(filename) ? `template: ${msg}` : `template ${filename}: ${msg}`);
  }
}

/** Renders the template and builds the redaction for its diff. */
export async function renderTemplate(ctx: Pick<ModuleContext, 'vars' | 'roleDir'>, args: TemplateArgs): Promise<WantedFile> {
  const file = templatePath(args.src, ctx.roleDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`template: cannot read ${file}: ${(err as Error).message}`);
  }
  await loadEjs();
  const all = { ...ctx.vars, ...args.vars };
  const { vars, secrets } = prepareVars(all, args.secrets);
  const content = render(text, vars, file);

  let patterns: RegExp[] = [];
  if (secrets.length) {
    // Render once more with a token in each secret's place: the lines holding the token tell us
    // where the *old* secret sits in the remote file, whose value we cannot know.
    const token = `@@lvsplay-secret-${randomBytes(6).toString('hex')}@@`;
    try {
      patterns = secretLinePatterns(render(text, prepareVars(all, args.secrets, token).vars, file), token);
    } catch {
      patterns = [];
    }
  }
  return {
    dest: args.dest,
    content,
    mode: args.mode,
    owner: args.owner,
    group: args.group,
    validate: args.validate,
    redact: (t, side) => {
      const masked = redactValues(t, secrets);
      return side === 'old' ? redactLines(masked, patterns) : masked;
    },
  };
}

export const template = defineModule<TemplateArgs>({
  name: 'template',
  async plan(ctx, args) {
    const change = await planContent(ctx, await renderTemplate(ctx, args));
    if (change) ctx.log(`template ${args.src}: ${change.summary}`);
    return change;
  },
  async apply(ctx, _args, change) {
    await applyContent(ctx, change);
  },
});
