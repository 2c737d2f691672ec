import { main } from '../lib/cli.ts';

await main({ description: 'Runs the client role on the clients group.', plays: async () => [(await import('./plays.ts')).clientPlay] });
