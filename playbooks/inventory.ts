// The inventory as lvsplay reads it, printed like ansible-inventory, for users and comparison tests:
//   npx tsx playbooks/inventory.ts -i inventory/lab.yml --list
//   npx tsx playbooks/inventory.ts -i hosts.ini -i extra.yml --host bal1
//   npx tsx playbooks/inventory.ts -i inventory/ --graph [GROUP]
import { parseArgs } from 'node:util';
import { printError, UsageError } from '../lib/cli.ts';

const HELP = `Prints the inventory as lvsplay reads it, like ansible-inventory.

Usage: npx tsx playbooks/inventory.ts -i SOURCE [-i SOURCE…] (--list | --host HOST | --graph [GROUP]) [-y]

  -i, --inventory SRC   YAML or INI file, directory, or 'h1,h2:2201,'; repeatable (merged in order);
                        default $LVSPLAY_INVENTORY
      --list            every group (hosts, children) and every host's vars under _meta.hostvars
      --host HOST       one host's merged inventory vars (group_vars, host_vars, inline; no -e)
      --graph [GROUP]   the group tree
  -y, --yaml            YAML instead of JSON (--list, --host)
  -h, --help            this help

Exit codes: 0 ok, 1 bad command line or inventory (the message names file:line).`;

async function run(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = (() => {
      try {
        return parseArgs({
          args: argv,
          allowPositionals: true,
          options: {
            inventory: { type: 'string', short: 'i', multiple: true },
            list: { type: 'boolean' },
            host: { type: 'string' },
            graph: { type: 'boolean' },
            yaml: { type: 'boolean', short: 'y' },
            help: { type: 'boolean', short: 'h' },
          },
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    })();
    if (values.help) { console.log(HELP); return 0; }
    const actions = [values.list, values.host !== undefined, values.graph].filter(Boolean).length;
    if (actions !== 1) throw new UsageError('pass one of --list, --host HOST, --graph');
    if (positionals.length > (values.graph ? 1 : 0)) throw new UsageError(`unexpected argument: ${positionals.at(-1)}`);
    const sources = values.inventory ?? (process.env.LVSPLAY_INVENTORY ? [process.env.LVSPLAY_INVENTORY] : []);
    if (!sources.length) throw new UsageError('no inventory: pass -i SOURCE or set LVSPLAY_INVENTORY');
    // imported here, not at the top, so --help starts without yaml and zod (issue 13)
    const [{ default: YAML }, { loadInventory }, { hostVars, inventoryGraph, inventoryList }] = await Promise.all([
      import('yaml'),
      import('../lib/inventory.ts'),
      import('../lib/inventory/listing.ts'),
    ]);
    const inv = await loadInventory(sources);
    const print = (v: unknown) => console.log(values.yaml ? YAML.stringify(v, { version: '1.1' }).trimEnd() : JSON.stringify(v, null, 4));
    if (values.list) print(inventoryList(inv));
    else if (values.host !== undefined) {
      const vars = hostVars(inv, values.host);
      if (vars === undefined) throw new UsageError(`--host ${values.host}: no such host in the inventory`);
      print(vars);
    } else {
      const group = positionals[0] ?? 'all';
      if (!inv.tree!.has(group)) throw new UsageError(`--graph ${group}: no such group in the inventory`);
      console.log(inventoryGraph(inv, group).join('\n'));
    }
    return 0;
  } catch (err) {
    return printError(err);
  }
}

process.exit(await run(process.argv.slice(2)));
