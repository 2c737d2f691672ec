// address: an IPv4 address on a device, now (ip addr) and optionally across reboots.
//
// Persistence is one oneshot systemd unit per address, enabled by its multi-user.target.wants
// symlink (exactly what `systemctl enable` creates). It needs neither ifupdown nor
// systemd-networkd, so it works on a minbase guest, and it is plain files: idempotent by compare.
import { defineModule } from '../module.ts';
import { join, sh, type Command } from '../shell.ts';
import { stateDiff, unifiedDiff } from '../diff.ts';

export interface AddressArgs {
  dev: string;
  /** `10.0.0.5/32`; a bare address means /32 */
  cidr: string;
  state?: 'present' | 'absent';
  persist?: boolean;
}

export const UNIT_DIR = '/etc/systemd/system';
const WANTS_DIR = `${UNIT_DIR}/multi-user.target.wants`;

/** `10.0.0.5` → `10.0.0.5/32`; rejects anything that is not dotted-quad/prefix. */
export function normaliseCidr(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(String(cidr).trim());
  const octets = m?.slice(1, 5).map(Number);
  const prefix = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets!.some((o) => o > 255) || prefix > 32) throw new Error(`address: invalid IPv4 CIDR ${JSON.stringify(cidr)}`);
  return `${octets!.join('.')}/${prefix}`;
}

export function checkDev(dev: string): void {
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(dev)) throw new Error(`address: invalid device name ${JSON.stringify(dev)}`);
}

/** The CIDRs in `ip -o -4 addr show [dev X]` output, in order. */
export function parseIpAddrCidrs(out: string): string[] {
  return [...out.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]);
}

/** systemd-escape for a unit-name component: [A-Za-z0-9:_.] kept, everything else \xNN. */
export function systemdEscape(s: string): string {
  return [...s]
    .map((c, i) => (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0) ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
    .join('');
}

export function unitName(dev: string, cidr: string): string {
  const [ip, prefix] = cidr.split('/');
  return `lvsplay-addr-${systemdEscape(dev)}-${ip}_${prefix}.service`;
}

export function unitContent(dev: string, cidr: string): string {
  return [
    '# Managed by lvsplay (address module): do not edit.',
    '[Unit]',
    `Description=lvsplay: address ${cidr} on ${dev}`,
    `After=network-pre.target sys-subsystem-net-devices-${systemdEscape(dev)}.device`,
    'Before=network.target',
    'Wants=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/sbin/ip addr replace ${cidr} dev ${dev}`,
    `ExecStop=-/sbin/ip addr del ${cidr} dev ${dev}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface AddressState {
  /** CIDRs on the device now */
  cidrs: string[];
  /** the unit file's content, null when missing */
  unit: string | null;
  /** the wants symlink's target, null when missing */
  link: string | null;
}

export interface AddressDecision {
  /** ip commands to run now */
  now: Command[];
  /** unit file content to write, or null to remove it */
  unit?: string | null;
  /** wants symlink to create (true) or remove (false) */
  link?: boolean;
  /**
   * an existing unit file changes or goes: systemd must re-read it. A NEW unit needs no reload
   * (systemd loads a unit file when first asked for it, and reads them all at boot), which
   * spares a `systemctl daemon-reload` — a second per address under emulation.
   */
  reload?: boolean;
  /** current and wanted state, for the summary */
  describe: string[];
}

/** Pure: what to do on the device and with the persistence files. */
export function decideAddress(args: AddressArgs, st: AddressState): AddressDecision | null {
  checkDev(args.dev);
  const cidr = normaliseCidr(args.cidr);
  const ip = cidr.split('/')[0];
  const state = args.state ?? 'present';
  const sameIp = st.cidrs.map((c) => normaliseCidr(c)).filter((c) => c.split('/')[0] === ip);
  const d: AddressDecision = { now: [], describe: [] };

  if (state === 'present') {
    if (!sameIp.includes(cidr)) {
      // The address with another prefix length is replaced, not doubled.
      for (const other of sameIp) d.now.push(sh`ip addr del ${other} dev ${args.dev}`);
      d.now.push(sh`ip addr add ${cidr} dev ${args.dev}`);
      d.describe.push(sameIp.length ? `replace ${sameIp.join(' ')} by ${cidr} on ${args.dev}` : `add ${cidr} to ${args.dev}`);
    }
  } else {
    for (const c of sameIp) d.now.push(sh`ip addr del ${c} dev ${args.dev}`);
    if (sameIp.length) d.describe.push(`remove ${sameIp.join(' ')} from ${args.dev}`);
  }

  if (args.persist) {
    const name = unitName(args.dev, cidr);
    const target = `${UNIT_DIR}/${name}`;
    if (state === 'present') {
      const content = unitContent(args.dev, cidr);
      if (st.unit !== content) d.unit = content;
      if (st.link !== target) d.link = true;
      if (st.unit !== null && d.unit !== undefined) d.reload = true;
      if (d.unit !== undefined || d.link !== undefined) d.describe.push(`persist via ${name}`);
    } else {
      if (st.unit !== null) d.unit = null;
      if (st.link !== null) d.link = false;
      if (st.unit !== null) d.reload = true;
      if (d.unit !== undefined || d.link !== undefined) d.describe.push(`remove ${name}`);
    }
  }
  return d.describe.length ? d : null;
}

const ifSystemd = (cmd: Command) => sh`if [ -d /run/systemd/system ]; then ${cmd}; fi`;

export const address = defineModule<AddressArgs>({
  name: 'address',
  async plan(ctx, args) {
    checkDev(args.dev);
    const cidr = normaliseCidr(args.cidr);
    const name = unitName(args.dev, cidr);
    const probes = [sh`ip -o -4 addr show dev ${args.dev}`];
    if (args.persist) probes.push(sh`cat -- ${`${UNIT_DIR}/${name}`}`, sh`readlink -- ${`${WANTS_DIR}/${name}`}`);
    const [addr, unit, link] = await ctx.conn.read(probes);
    if (addr.exitCode !== 0) throw new Error(`address: cannot read addresses of ${args.dev}: ${addr.stderr.trim() || addr.stdout.trim()}`);
    const st: AddressState = {
      cidrs: parseIpAddrCidrs(addr.stdout),
      unit: unit && unit.exitCode === 0 ? unit.stdout : null,
      link: link && link.exitCode === 0 ? link.stdout.trim() : null,
    };
    const d = decideAddress(args, st);
    if (!d) return null;
    const before = { addresses: st.cidrs.join(' ') || '(none)', ...(args.persist ? { persisted: st.unit !== null && st.link !== null } : {}) };
    const present = (args.state ?? 'present') === 'present';
    const kept = st.cidrs.filter((c) => c.split('/')[0] !== cidr.split('/')[0]);
    const after = { addresses: (present ? [...kept, cidr] : kept).join(' ') || '(none)', ...(args.persist ? { persisted: present } : {}) };
    let diff = stateDiff(`${args.dev}`, before, after);
    if (d.unit !== undefined) diff += unifiedDiff(`${UNIT_DIR}/${name}`, st.unit, d.unit);
    return { summary: d.describe.join(', '), diff, data: d };
  },
  async apply(ctx, args, change) {
    const d = change.data as AddressDecision;
    const name = unitName(args.dev, normaliseCidr(args.cidr));
    // The unit goes up first; then ONE exec: the address now, the links, the reload if any.
    if (typeof d.unit === 'string') await ctx.conn.put(`${UNIT_DIR}/${name}`, d.unit, { mode: '0644' });
    const cmds: Command[] = [...d.now];
    if (d.unit === null) cmds.push(sh`rm -f -- ${`${UNIT_DIR}/${name}`}`);
    if (d.link === true) cmds.push(sh`mkdir -p -- ${WANTS_DIR}`, sh`ln -sfn -- ${`${UNIT_DIR}/${name}`} ${`${WANTS_DIR}/${name}`}`);
    if (d.link === false) cmds.push(sh`rm -f -- ${`${WANTS_DIR}/${name}`}`);
    // without a running systemd there is nothing to tell
    if (d.reload) cmds.push(ifSystemd(sh`systemctl daemon-reload`));
    if (cmds.length) await ctx.conn.exec(join(cmds, ' && '));
  },
});
