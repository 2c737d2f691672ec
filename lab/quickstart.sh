#!/usr/bin/env bash
# `npm start`: from a fresh clone to a serving cluster — npm packages, the lab (installs its own
# Debian packages, builds the image once), the converge, and the VIP answering from the client.
set -euo pipefail
cd "$(dirname "$0")/.."
inv=${LVSPLAY_INVENTORY:-inventory/lab.yml}

[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund
npx tsx lab/lab.ts up -i "$inv"
npx tsx playbooks/site.ts -i "$inv"

vip=$(node -e 'const y=require("yaml");const d=y.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(d.all.vars.lvs_vips[0])' "$inv")
echo
echo "The VIP $vip seen from the client, six requests:"
npx tsx playbooks/adhoc.ts -i "$inv" -l clients -- \
  "for i in 1 2 3 4 5 6; do curl -s --max-time 2 http://$vip/ | grep -o 'served-by: [a-z0-9]*'; done"

cat <<NEXT

What to try next:
  npx tsx playbooks/adhoc.ts -i $inv -l directors -- ipvsadm -Ln --stats   # who balances, and how much
  npx tsx playbooks/drill.ts -i $inv --mode stop                          # kill the master, measure the outage
  npx tsx playbooks/site.ts -i $inv --check --diff                         # nothing to change
  npx tsx lab/lab.ts status -i $inv                                        # the VMs
  npx tsx lab/lab.ts down -i $inv                                          # stop everything
NEXT
