// The name of the director's IPVS sync unit alone, for readers that must stay light (the drill's
// mode table is loaded for --help); the unit and its tasks: roles/director/ipvs-sync.ts.
export const IPVS_SYNC_UNIT = 'lvsplay-ipvs-sync.service';

/**
 * Who runs the IPVS sync threads: lvsplay's unit (both threads on every director, all the time) on
 * separate directors; keepalived's lvs_sync_daemon (the MASTER sends, the others receive) where the
 * directors are also real servers — there, every node sending and receiving failed the nodes' local
 * health URLs.
 */
export const syncByUnit = (model: { colocated: string[] }): boolean => model.colocated.length === 0;
