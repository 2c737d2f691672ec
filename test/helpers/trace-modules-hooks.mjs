// Loader-thread half of trace-modules.mjs: one line per module loaded.
import fs from 'node:fs';

let out;

export function initialize(data) {
  out = data.out;
}

export async function load(url, context, nextLoad) {
  fs.appendFileSync(out, `${url}\n`);
  return nextLoad(url, context);
}
