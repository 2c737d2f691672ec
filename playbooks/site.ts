import { main } from '../lib/cli.ts';

// The plays (and the roles and modules behind them) are imported when needed, not for --help (issue 13).
await main({
  description: 'Converges the whole LVS-DR cluster: real servers, then the directors one at a time, then the client verifies every VIP.',
  plays: async () => (await import('./plays.ts')).sitePlays,
});
