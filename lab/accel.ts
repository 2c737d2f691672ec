// Which accelerator the VMs use. KVM only where it really boots a kernel: /dev/kvm can exist
// without vmx/svm (a nested "kvm_pvm" host creates VMs that never finish booting), so `auto`
// wants the CPU flag AND a short boot probe; otherwise qemu's software emulation (TCG).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

export type AccelChoice = 'auto' | 'kvm' | 'tcg';
export type Accel = 'kvm' | 'tcg';

export interface AccelDecision {
  accel: Accel;
  why: string;
}

export function cpuHasVirtFlag(cpuinfo: string): boolean {
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}

/** qemu arguments for the accelerator. TCG's translation cache is capped: the default costs ~1 GiB RSS per VM. */
export function accelArgs(accel: Accel): string[] {
  return accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=64', '-cpu', 'qemu64,-svm'];
}

/** Boots `kernel` under KVM with no root file system: a working KVM reaches the kernel's "VFS" panic within seconds. */
export function probeKvm(kernel: string, timeoutMs = 15_000): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvsplay-kvm-probe-'));
  const log = path.join(dir, 'serial.log');
  return new Promise((resolve) => {
    const child = spawn(
      'qemu-system-x86_64',
      ['-machine', 'pc', '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-smp', '1', '-nodefaults', '-display', 'none',
        '-no-reboot', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 quiet', '-serial', `file:${log}`],
      { stdio: 'ignore' },
    );
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(ok);
    };
    const booted = () => {
      try {
        return /VFS: |Kernel panic/.test(fs.readFileSync(log, 'utf8'));
      } catch {
        return false;
      }
    };
    const poll = setInterval(() => booted() && finish(true), 200);
    const timer = setTimeout(() => finish(false), timeoutMs);
    child.on('exit', () => finish(booted()));
    child.on('error', () => finish(false));
  });
}

export async function chooseAccel(choice: AccelChoice, kernel: string): Promise<AccelDecision> {
  if (choice === 'tcg') return { accel: 'tcg', why: 'forced with --accel tcg' };
  if (choice === 'kvm') return { accel: 'kvm', why: 'forced with --accel kvm' };
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  if (!cpuHasVirtFlag(cpuinfo)) return { accel: 'tcg', why: 'no vmx/svm flag in /proc/cpuinfo: KVM would not boot a stock kernel here' };
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', why: '/dev/kvm missing or not writable' };
  }
  if (!(await probeKvm(kernel))) return { accel: 'tcg', why: 'a KVM boot probe did not reach the kernel within 15 s' };
  return { accel: 'kvm', why: 'vmx/svm present and a KVM boot probe succeeded' };
}
