import { main } from '../lib/cli.ts';

await main({ description: 'Runs the realserver role on the realservers group.', plays: async () => [(await import('./plays.ts')).realserverPlay] });
