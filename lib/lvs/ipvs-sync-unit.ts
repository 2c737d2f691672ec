// The name of the director's IPVS sync unit alone, for readers that must stay light (the drill's
// mode table is loaded for --help); the unit and its tasks: roles/director/ipvs-sync.ts.
export const IPVS_SYNC_UNIT = 'lvsplay-ipvs-sync.service';
