# Sourced by test_ledger_pg.sh after test_ledger_chains_pg: the multi-chain exports it left in
# $KEYDIR verify offline with factory_tool ($TOOL) and the public key alone, and a changed entry
# of chain station/2 is named with its chain in the --json verdict. Returns non-zero on failure.
offline() { # FILE: factory_tool's --json verdict of an export
    "$TOOL" --json ledger verify "$KEYDIR/$1" --pubkey "$KEYDIR/ledger.pub"
}
offline_rc=0
for f in chains.jsonl chains.cbor; do
    out=$(offline $f) || { echo "FAIL: offline verify of $f: $out"; offline_rc=1; }
    case $out in
    *'"verdict":"OK"'*'"chains":6'*) echo "offline $f: $out" ;;
    *) echo "FAIL: offline $f: $out"; offline_rc=1 ;;
    esac
done
python3 - "$KEYDIR/chains.jsonl" "$KEYDIR/bad.jsonl" <<'EOF'
import json, sys
out, done = [], False
for line in open(sys.argv[1]).read().splitlines():
    o = json.loads(line)
    if not done and o.get("chain") == "station/2" and o.get("seq") == 3:
        o["serial"], done = "tampered", True
        line = json.dumps(o, separators=(",", ":"))
    out.append(line)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
EOF
out=$(offline bad.jsonl) && { echo "FAIL: a changed file verified"; offline_rc=1; }
case $out in
*'"verdict":"CHANGED","seq":3,"chain":"station/2"'*) echo "offline tampered: $out" ;;
*) echo "FAIL: offline tampered: $out"; offline_rc=1 ;;
esac
[ $offline_rc -eq 0 ]
