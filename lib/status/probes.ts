// What status reads from each host, as named facts: everything a director or a real server can
// tell about itself, read in ONE exec per host (lib/facts/fact.ts). Read-only: the only thing sent
// to a process is keepalived's SIGUSR1, which makes it write its state to /tmp.
import { ipvsFacts } from '../facts/ipvs.ts';
import { keepalivedFacts } from '../facts/keepalived.ts';
import { httpGet, netFacts, unitState } from '../facts/net.ts';
import type { Fact, FactValues } from '../facts/fact.ts';
import { CHECKS, type ClusterModel } from '../lvs/index.ts';

// keepalived writes its dump while the other commands run: the signal first, the dump last.
export const directorFacts = () => {
  const { keepalivedSignal, keepalived, ...journal } = keepalivedFacts;
  return {
    keepalivedSignal,
    addresses: netFacts.addresses,
    keepalivedUnit: unitState('keepalived'),
    ...journal,
    ...ipvsFacts,
    keepalived,
  };
};

/** The URL a real server's own nginx must answer for each TCP service: the check's path, or `/`. */
export function healthUrls(model: ClusterModel): { url: string; status?: number }[] {
  const seen = new Map<string, { url: string; status?: number }>();
  for (const s of model.services.filter((x) => x.protocol === 'tcp')) {
    const http = CHECKS[s.check.type].http;
    const url = `${s.tls ? 'https' : 'http'}://127.0.0.1:${s.port}${http ? s.check.path : '/'}`;
    if (!seen.has(url)) seen.set(url, { url, ...(http ? { status: s.check.status } : {}) });
  }
  return [...seen.values()];
}

export const realserverFacts = (model: ClusterModel) => ({
  addresses: netFacts.addresses,
  arp: netFacts.arp,
  routes: netFacts.routes,
  nginxUnit: unitState('nginx'),
  ...Object.fromEntries(healthUrls(model).map((h, i) => [`http${i}`, httpGet(h.url)])),
});

export type DirectorFacts = FactValues<ReturnType<typeof directorFacts>>;
export type RealserverFacts = FactValues<{
  addresses: typeof netFacts.addresses;
  arp: typeof netFacts.arp;
  routes: typeof netFacts.routes;
  nginxUnit: Fact<string>;
}> & Record<`http${number}`, ReturnType<ReturnType<typeof httpGet>['parse']>>;
