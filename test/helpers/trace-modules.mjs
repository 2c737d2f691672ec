// Records every module a process loads, for tests that check what a command imports (issue 13:
// --help must not load ssh2, listr2, zx, ejs...). Load it AFTER tsx so its hook sees final URLs:
//   LVSPLAY_TRACE_MODULES=/tmp/list node --import tsx --import ./test/helpers/trace-modules.mjs X.ts
// Appends one line per module to that file: ESM (and CJS imported from ESM) from a load hook, which
// runs in the loader thread and so writes synchronously; at exit, the CommonJS cache too (modules
// that required each other). Without the variable it does nothing.
import fs from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.LVSPLAY_TRACE_MODULES;
if (out) {
  register('./trace-modules-hooks.mjs', import.meta.url, { data: { out } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    fs.appendFileSync(out, Object.keys(cache).map((file) => `cjs:${file}\n`).join(''));
  });
}
