// colocation_marks: the co-located directors' nftables ruleset (roles/director/colocation.ts),
// with the directors' MACs found on the LAN. One round trip asks each director's address once
// (ping, so that the kernel resolves it), reads the neighbour table, this host's own MAC, the
// ruleset on disk and whether the table is loaded. A director that does not answer keeps the MAC
// the last run recorded; with none on record the task fails naming it.
import { defineModule } from '../../../lib/module.ts';
import { applyContent, contentChange, decideContent, parseSha256sum, parseStat, sha256, statCmd } from '../../../lib/modules/remote-file.ts';
import { sh } from '../../../lib/shell.ts';
import { colocationRuleset, parseNeighbours, recordedMacs, type ColocationArgs } from '../colocation.ts';

export const colocationMarks = defineModule<ColocationArgs>({
  name: 'colocation_marks',
  async plan(ctx, args) {
    const peers = args.directors.filter((d) => d.name !== args.host);
    const [neigh, own, current, st, sum, loaded] = await ctx.conn.read([
      sh`for ip in ${peers.map((p) => p.ip)}; do ping -c 1 -W 1 -I ${args.iface} "$ip" >/dev/null 2>&1 & done; wait; ip -4 neigh show dev ${args.iface}`,
      sh`cat /sys/class/net/${args.iface}/address`,
      sh`cat -- ${args.dest}`,
      statCmd(args.dest),
      sh`sha256sum -- ${args.dest}`,
      sh`nft list table ip lvsplay`,
    ]);
    const seen = parseNeighbours(neigh.stdout);
    const recorded = current.exitCode === 0 ? recordedMacs(current.stdout) : {};
    const macs: Record<string, string> = { [args.host]: own.stdout.trim().toLowerCase() };
    for (const p of peers) {
      const mac = seen[p.ip] ?? recorded[p.name];
      if (!mac) {
        throw new Error(`colocation_marks: director ${p.name} (${p.ip}) did not answer ARP on ${args.iface} and no MAC is on record in ${args.dest}: bring it up, then converge again`);
      }
      if (!seen[p.ip]) ctx.log(`${p.name} did not answer: its MAC as recorded, ${mac}`);
      macs[p.name] = mac;
    }
    const want = { dest: args.dest, content: colocationRuleset(args, macs), mode: '0644', owner: 'root', group: 'root', validate: 'nft -c -f %s' };
    const decision = decideContent(args.dest, { stat: parseStat(args.dest, st), sha: parseSha256sum(sum) }, { ...want, sha: sha256(want.content) });
    if (decision) {
      const file = contentChange(want, decision, current.exitCode === 0 ? current.stdout : null);
      return { ...file, data: { file } };
    }
    if (loaded.exitCode !== 0) return { summary: `load ${args.dest} (table ip lvsplay is not loaded)`, data: {} };
    return null;
  },
  async apply(ctx, args, change) {
    const { file } = change.data as { file?: Parameters<typeof applyContent>[1] };
    if (file) await applyContent(ctx, file);
    await ctx.conn.exec(sh`nft -f ${args.dest}`);
  },
});
