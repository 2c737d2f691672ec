import { main } from '../lib/cli.ts';
import { realserverPlay } from './plays.ts';

await main({ description: 'Runs the realserver role on the realservers group.', plays: () => [realserverPlay] });
