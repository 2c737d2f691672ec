import { main } from '../lib/cli.ts';

await main({ description: 'Runs the director role on the directors group, one host at a time.', plays: async () => [(await import('./plays.ts')).directorPlay] });
