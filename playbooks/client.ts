import { main } from '../lib/cli.ts';
import { clientPlay } from './plays.ts';

await main({ description: 'Runs the client role on the clients group.', plays: () => [clientPlay] });
