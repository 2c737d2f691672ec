import { main } from '../lib/cli.ts';
import { directorPlay } from './plays.ts';

await main({ description: 'Runs the director role on the directors group, one host at a time.', plays: () => [directorPlay] });
