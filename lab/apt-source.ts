// The Debian mirror the host's apt already uses, read at run time (the repository never names a
// registry host): deb822 *.sources and one-line sources.list entries for the wanted suite.
import fs from 'node:fs';
import path from 'node:path';

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  signedBy?: string;
}

/** Parses deb822 `.sources` text; keeps `Types: deb` stanzas that are not disabled. */
export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) fields[(last = m[1].toLowerCase())] = m[2].trim();
      else if (/^\s+\S/.test(line) && last) fields[last] += ` ${line.trim()}`;
    }
    if (!fields.types?.split(/\s+/).includes('deb')) continue;
    if (fields.enabled && /^no$/i.test(fields.enabled)) continue;
    for (const uri of (fields.uris ?? '').split(/\s+/).filter(Boolean)) {
      out.push({
        uri,
        suites: (fields.suites ?? '').split(/\s+/).filter(Boolean),
        components: (fields.components ?? '').split(/\s+/).filter(Boolean),
        signedBy: fields['signed-by'] || undefined,
      });
    }
  }
  return out;
}

/** Parses one-line `deb [opts] uri suite comp…` entries. */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({ uri: m[2], suites: [m[3]], components: m[4].split(/\s+/).filter(Boolean), signedBy });
  }
  return out;
}

/** The host's apt entries for `suite` and its companions (`suite-updates`, `suite-security`), main component. */
export function debianSources(all: AptSource[], suite: string): AptSource[] {
  return all
    .map((s) => ({ ...s, suites: s.suites.filter((x) => x === suite || x.startsWith(`${suite}-`)) }))
    .filter((s) => s.suites.length > 0 && s.components.includes('main'));
}

const CODENAME = /^(buster|bullseye|bookworm|trixie|forky|duke|sid)(-updates|-security|-backports)?$/;

/**
 * The host's entries for `suite`; when the host runs another Debian release, its Debian entries
 * with the codename swapped (the same mirrors serve every release: `bookworm-security` on the
 * security mirror becomes `trixie-security` there). Backports are left out.
 */
export function sourcesForSuite(all: AptSource[], suite: string): AptSource[] {
  const exact = debianSources(all, suite);
  if (mirrorFor(exact, suite)) return exact;
  return all
    .filter((s) => s.components.includes('main'))
    .map((s) => ({
      ...s,
      suites: [...new Set(s.suites.flatMap((x) => {
        const m = CODENAME.exec(x);
        return m && m[2] !== '-backports' ? [`${suite}${m[2] ?? ''}`] : [];
      }))],
    }))
    .filter((s) => s.suites.length > 0);
}

/** The mirror debootstrap fetches `suite` from: the first entry carrying that exact suite. */
export function mirrorFor(sources: AptSource[], suite: string): string | undefined {
  return sources.find((s) => s.suites.includes(suite))?.uri;
}

/** Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources} (apt's own file selection). */
export function readHostSources(etc = '/etc/apt'): AptSource[] {
  const files: string[] = [];
  if (fs.existsSync(path.join(etc, 'sources.list'))) files.push(path.join(etc, 'sources.list'));
  const dir = path.join(etc, 'sources.list.d');
  if (fs.existsSync(dir)) {
    for (const f of fs.readdirSync(dir).sort()) if (/\.(list|sources)$/.test(f)) files.push(path.join(dir, f));
  }
  return files.flatMap((f) => {
    const text = fs.readFileSync(f, 'utf8');
    return f.endsWith('.sources') ? parseDeb822(text) : parseSourcesList(text);
  });
}

/** The sources as one deb822 file for the image while it is built. */
export function toDeb822(sources: AptSource[]): string {
  return sources
    .map((s) =>
      [
        'Types: deb',
        `URIs: ${s.uri}`,
        `Suites: ${s.suites.join(' ')}`,
        'Components: main',
        ...(s.signedBy ? [`Signed-By: ${s.signedBy}`] : []),
      ].join('\n'),
    )
    .join('\n\n') + '\n';
}
