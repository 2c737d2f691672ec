// How lvsplay says no: a ConfigError naming the inventory file, the key, its value and why.
import type { z } from 'zod';
import { ConfigError } from '../types.ts';
import { keyPath, show, valueAt } from './schema.ts';

export interface Where {
  file: string;
  /** set for per-host keys */
  host?: string;
}

/** `inventory/lab.yml: host bal2: lvs_priority = 150: equal to …` */
export function refuse(where: Where, key: string, value: unknown, why: string): never {
  throw new ConfigError(`${where.host ? `host ${where.host}: ` : ''}${key} = ${show(value)}: ${why}`, where.file);
}

/** For secrets: the message names the key and the value's length, never the value. */
export function refuseSecret(where: Where, key: string, value: string, why: string): never {
  throw new ConfigError(`${where.host ? `host ${where.host}: ` : ''}${key} (${value.length} characters, value not shown): ${why}`, where.file);
}

/** Parses with zod; every issue becomes one line of a single ConfigError. */
export function parseVars<S extends z.ZodTypeAny>(schema: S, raw: Record<string, unknown>, where: Where): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    return `${where.host ? `host ${where.host}: ` : ''}${keyPath(i.path)} = ${show(valueAt(raw, i.path))}: ${i.message}`;
  });
  throw new ConfigError(lines.join('\n'), where.file);
}
