// The drill's power switch for lab VMs: lab/index.ts's kill (SIGKILL of the VM's qemu) and start
// (cold boot from its own disk). Undefined when the inventory is not a lab inventory.
import type { LabControl } from '../lib/drill/types.ts';
import type { Inventory } from '../lib/types.ts';
import { labKill, labStart, loadLab } from './index.ts';

export async function labControl(inventory: Inventory): Promise<LabControl | undefined> {
  let names: Set<string>;
  try {
    const loaded = await loadLab(inventory.file);
    names = new Set(loaded.plan.vms.map((v) => v.name));
  } catch {
    return undefined; // not a lab inventory: poweroff falls back to sysrq (and needs --no-restore)
  }
  return {
    has: (host) => names.has(host),
    async kill(host) {
      if (!(await labKill(inventory.file, host))) throw new Error(`lab: ${host} was not running, nothing to power off`);
    },
    async start(host) {
      await labStart(inventory.file, host);
    },
  };
}
