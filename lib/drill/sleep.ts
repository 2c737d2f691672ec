import { setTimeout as delay } from 'node:timers/promises';

/** Waits `ms`, or less: an abort ends the wait early, and resolves it (the drill then restores). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => {});
