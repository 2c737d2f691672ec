// Every module, for roles and playbooks: `import { pkg, template, service } from '../../lib/modules/index.ts'`.
export { pkg, type PkgArgs } from './pkg.ts';
export { template, type TemplateArgs } from './template.ts';
export { copy, type CopyArgs } from './copy.ts';
export { sysctl, type SysctlArgs } from './sysctl.ts';
export { service, type ServiceArgs } from './service.ts';
export { address, type AddressArgs } from './address.ts';
export { command, type CommandArgs, type CommandResult } from './command.ts';
export { file, type FileArgs } from './file.ts';
export { lineinfile, type LineinfileArgs } from './lineinfile.ts';
export { kmod, type KmodArgs } from './kmod.ts';
