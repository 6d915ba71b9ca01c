#!/bin/bash
# The bash completion of the three programs, sourced into bash and called as bash calls it
# (COMP_WORDS, COMP_CWORD): fixed cases, then every command and option the programs' own --help
# lists must be offered (so a new option without completion fails here).
# usage: completion.sh COMPLETION_DIR FACTORY_TOOL FACTORY_CLIENT [FACTORY_SERVICE]
set -u
DIR=$1 FT=$2 FC=$3 FS=${4:-}
PASSED=0 FAILED=0
TMP=$(mktemp -d /tmp/kiln-completion-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

# shellcheck source=/dev/null
. "$DIR/kiln.bash"

# complete_line FUNCTION WORD...: COMPREPLY for completing the last WORD (may be "").
complete_line() {
    local fn=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn"
    printf '%s\n' "${COMPREPLY[@]}" | sort
}
# offers NAME WANTED FUNCTION WORD...: every word of WANTED is in the completion.
offers() {
    local name=$1 wanted=$2
    shift 2
    local got missing="" w
    got=$(complete_line "$@")
    for w in $wanted; do
        grep -qxF -- "$w" <<<"$got" || missing="$missing $w"
    done
    if [[ -z $missing ]]; then pass "$name"; else fail "$name (missing:$missing; got: $(echo $got))"; fi
}
# exactly NAME WANTED FUNCTION WORD...: the completion is exactly WANTED (sorted).
exactly() {
    local name=$1 wanted=$2
    shift 2
    local got
    got=$(complete_line "$@" | tr '\n' ' ' | sed 's/ $//')
    wanted=$(tr ' ' '\n' <<<"$wanted" | sort | tr '\n' ' ' | sed 's/ $//')
    if [[ $got == "$wanted" ]]; then pass "$name"; else fail "$name (got '$got', want '$wanted')"; fi
}

# --- fixed cases ----------------------------------------------------------------------------
exactly "commands starting with inj" "inject inject-batch" _kiln_factory_tool factory_tool inj
exactly "after a global option with a value, the command" "verify verify-batch" _kiln_factory_tool factory_tool --home-dir /tmp ver
offers "global options" "--home-dir --json --config-file --version" _kiln_factory_tool factory_tool --
exactly "setup's options" "-f --force --generate --help --key-uri" _kiln_factory_tool factory_tool setup -
exactly "inject's transports" "serial" _kiln_factory_tool factory_tool inject --endpoint-name ep-1 se
exactly "the tcp transport's options" "--ip" _kiln_factory_tool factory_tool inject tcp --i
exactly "records subcommands" "export" _kiln_factory_tool factory_tool records ex
exactly "records list --state values" "failed" _kiln_factory_tool factory_tool records list --state fa
exactly "export formats" "csv json" _kiln_factory_tool factory_tool records export --format ""
mkdir -p "$TMP/lists/sub"
touch "$TMP/lists/a.csv" "$TMP/lists/b.csv" "$TMP/lists/notes.txt"
exactly "--devices offers CSV files and folders" "$TMP/lists/a.csv $TMP/lists/b.csv $TMP/lists/sub" _kiln_factory_tool factory_tool inject-batch --devices "$TMP/lists/"
exactly "--home-dir offers folders only" "$TMP/lists/sub" _kiln_factory_tool factory_tool --home-dir "$TMP/lists/"
exactly "a value that is free text offers nothing" "" _kiln_factory_tool factory_tool prepare --endpoint-name ""
exactly "factory_client transports" "serial sf" _kiln_factory_client factory_client --storage "$TMP" s
exactly "factory_client get --type" "public-key private-key" _kiln_factory_client factory_client get x --type p
offers "factory_client tcp options" "--port --bind --devices --factory-trust" _kiln_factory_client factory_client tcp --
exactly "factory_service commands" "revoke-station run" _kiln_factory_service factory_service r
exactly "factory_service run options" "--listen --log" _kiln_factory_service factory_service run "$TMP" --l
exactly "factory_service audit --format" "csv json" _kiln_factory_service factory_service audit "$TMP" --format ""

# --- everything the programs' --help lists --------------------------------------------------
options_of() { grep -o -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' '; }
# The commands section: the first word of each entry, and every word of a comma-separated list.
commands_of() {
    sed -n '/^commands:/,/^$/p' | grep '^  [a-z]' | sed 's/^  //; s/  .*//' |
        awk '/,/ { gsub(/,/, " "); print; next } { print $1 }' | tr ' ' '\n' | grep -x '[a-z][a-z_-]*'
}
all_commands=$("$FT" --help | commands_of | sort -u | tr '\n' ' ')
# A parser that found nothing would pass everything below: the help must have given them all.
n=$(wc -w <<<"$all_commands")
if ((n >= 15)); then pass "factory_tool --help lists $n commands"; else fail "only $n commands parsed from factory_tool --help: $all_commands"; fi
offers "every factory_tool command of --help" "$all_commands" _kiln_factory_tool factory_tool ""
offers "every global option of factory_tool --help" "$("$FT" --help | sed -n '/^global options:/,/^commands:/p' | options_of)" _kiln_factory_tool factory_tool --
for c in $all_commands; do
    help_options=$("$FT" "$c" --help 2>&1 | options_of)
    case $c in
    inject) got=$(for s in "" tcp serial to_file; do complete_line _kiln_factory_tool factory_tool inject $s --; done | sort -u) ;;
    records) got=$(for s in "" list show export release; do complete_line _kiln_factory_tool factory_tool records $s --; done | sort -u) ;;
    *) got=$(complete_line _kiln_factory_tool factory_tool "$c" --) ;;
    esac
    missing=""
    for o in $help_options; do grep -qxF -- "$o" <<<"$got" || missing="$missing $o"; done
    if [[ -z $missing ]]; then pass "factory_tool $c: every option of its --help"; else fail "factory_tool $c: not offered:$missing"; fi
done
fc_commands=$("$FC" --help | commands_of)
offers "every factory_client command of --help" "$(echo $fc_commands)" _kiln_factory_client factory_client ""
offers "every factory_client global option of --help" "$("$FC" --help | head -n 1 | options_of) --devices --forever" _kiln_factory_client factory_client --
if [[ -n $FS ]]; then
    fs_usage=$("$FS" --help 2>&1)
    fs_commands=$(grep -o 'factory_service [a-z][a-z-]*' <<<"$fs_usage" | awk '{print $2}' | sort -u)
    offers "every factory_service command of --help" "$(echo $fs_commands)" _kiln_factory_service factory_service ""
    for c in $fs_commands; do
        want=$(grep "factory_service $c " <<<"$fs_usage" | options_of)
        offers "factory_service $c: every option of its usage" "$want" _kiln_factory_service factory_service "$c" DIR --
    done
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
