// A set of vars from one place (an inventory entry, a vars file, -e) and how to point at it in messages.
import { ConfigError } from '../types.ts';

/** Where a var is set: file, line, column, and the key as the user wrote it (`all.hosts.h1.ansible_port`). */
export interface Place {
  file: string;
  line?: number;
  col?: number;
  path: string;
}

export interface VarLayer {
  vars: Record<string, unknown>;
  /** where `key` is set; undefined for extra vars */
  at?: (key: string) => Place;
}

export function placeText(p: Place): string {
  return `${p.file}${p.line ? `:${p.line}${p.col ? `:${p.col}` : ''}` : ''}`;
}

/** `file:line:col` of `key` in the layer, or "extra vars" */
export function whereIn(layer: VarLayer, key: string): string {
  return layer.at ? placeText(layer.at(key)) : 'extra vars';
}

export function errorIn(layer: VarLayer, key: string, message: string): ConfigError {
  if (!layer.at) return new ConfigError(`extra vars: ${key}: ${message}`);
  const p = layer.at(key);
  return new ConfigError(`${p.path}: ${message}`, p.file, p.line, p.col);
}

/** A value as shown in messages. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
