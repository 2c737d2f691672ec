// status's command line: two flags whose value is optional, which node:util parseArgs cannot say.

/** `--watch` and `--json` take an optional value: give them their default when none follows. */
export function normaliseArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a === '--watch' || a === '-w') out.push(next !== undefined && /^\d+(\.\d+)?$/.test(next) ? `--watch=${argv[++i]}` : '--watch=2');
    else if (a === '--json') out.push(next !== undefined && !next.startsWith('-') ? `--json=${argv[++i]}` : next === '-' ? (i++, '--json=-') : '--json=-');
    else out.push(a);
  }
  return out;
}
