import { main } from '../lib/cli.ts';
import { sitePlays } from './plays.ts';

await main({
  description: 'Converges the whole LVS-DR cluster: real servers, then the directors one at a time, then the client verifies every VIP.',
  plays: () => sitePlays,
});
