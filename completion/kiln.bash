# bash completion for kiln's factory_tool, factory_client and factory_service: commands,
# subcommands, options and their values. Installed once per program as
# share/bash-completion/completions/NAME (bash-completion loads it when NAME is first completed);
# every copy defines all three.

# Sets the caller's cur, prev, words and cword (bash-completion's _init_completion when loaded).
_kiln_comp_words() {
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion
        return
    fi
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
}

_kiln_factory_tool_options() {
    # The options of one command (after the transport for inject, the subcommand for records).
    case $1 in
    setup) echo "-f --force --key-uri --generate --help" ;;
    status) echo "--help" ;;
    prepare) echo "--endpoint-name --serial-number --device-keys-location -o --help" ;;
    verify) echo "--endpoint-name --context-file -o --help" ;;
    inject) echo "--endpoint-name --serial-number --device-keys-location --records-db --station --retries --help tcp serial to_file" ;;
    inject:tcp) echo "--ip --port -t --help" ;;
    inject:serial) echo "--port --baud -t --help" ;;
    inject:to_file) echo "--output --help" ;;
    inject-batch) echo "--devices --parallel --retries -t --reprovision --records-db --no-records --station --metrics-listen --metrics-linger --help" ;;
    prepare-batch) echo "--devices --out --jobs --reprovision --records-db --no-records --station --help" ;;
    write) echo "--devices --bundles --answers --parallel --retries -t --reprovision --records-db --no-records --station --metrics-listen --metrics-linger --help" ;;
    verify-batch) echo "--devices --answers --bundles --reprovision --records-db --no-records --station --help" ;;
    records) echo "--records-db --json --help list show export release" ;;
    records:list) echo "--endpoint --state --format --json --help" ;;
    records:show) echo "--help" ;;
    records:export) echo "--format --output --help" ;;
    records:release) echo "--station --endpoint --json --help" ;;
    new_device | get_device_configuration | handle_device_response | report_error) echo "--station --service-url --help" ;;
    relay) echo "--tcp --serial --baud -t --help" ;;
    ledger) echo "--records-db --db --pubkey --format -o --help verify export pubkey" ;;
    ca) echo "-o --passphrase-file --key-uri --generate --chain --help csr trust import-cert rotate backup restore" ;;
    esac
}

_kiln_factory_tool() {
    local cur prev words cword
    _kiln_comp_words || return
    local commands="setup status prepare verify inject inject-batch prepare-batch write verify-batch records new_device get_device_configuration handle_device_response report_error relay ledger ca"
    local globals="-c --config-file -v --log-file --home-dir --external-ca --json --help --version"

    # Option values first: files, folders, fixed words.
    case $prev in
    -c | --config-file | --log-file | -o | --output | --context-file | --station | --passphrase-file | --chain | --external-ca)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
    --records-db | --db) # a SQLite file or a PostgreSQL URL
        mapfile -t COMPREPLY < <(compgen -f -- "$cur"; compgen -W "postgresql://" -- "$cur")
        return ;;
    --devices)
        mapfile -t COMPREPLY < <(compgen -f -X '!*.csv' -- "$cur"; compgen -d -- "$cur")
        return ;;
    --home-dir | --device-keys-location | --out | --bundles | --answers)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        return ;;
    --serial)
        mapfile -t COMPREPLY < <(compgen -f -- "${cur:-/dev/tty}")
        return ;;
    --key-uri)
        COMPREPLY=() # a pkcs11: URI, nothing to offer
        return ;;
    --state)
        mapfile -t COMPREPLY < <(compgen -W "started success failed interrupted written prepared skipped" -- "$cur")
        return ;;
    --format)
        mapfile -t COMPREPLY < <(compgen -W "csv json" -- "$cur")
        return ;;
    --endpoint-name | --serial-number | --ip | --port | --baud | -t | --retries | --parallel | --jobs | --endpoint | --tcp)
        COMPREPLY=()
        return ;;
    esac

    # The command (first word that is neither a global option nor its value), then the
    # transport of inject or the subcommand of records.
    local i command="" sub=""
    for ((i = 1; i < cword; i++)); do
        local w=${words[i]}
        if [[ -z $command ]]; then
            case $w in
            -c | --config-file | --log-file | --home-dir) ((i++)) ;;
            -*) ;;
            *) command=$w ;;
            esac
        elif [[ -z $sub && ( $command == inject && ( $w == tcp || $w == serial || $w == to_file ) ||
                               $command == records && ( $w == list || $w == show || $w == export || $w == release ) ) ]]; then
            sub=$w
        fi
    done

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$globals" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return
    fi
    local key=$command
    [[ -n $sub ]] && key=$command:$sub
    local options
    options=$(_kiln_factory_tool_options "$key")
    if [[ $cur == -* || -z $sub && ( $command == inject || $command == records ) ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    else
        # Positional arguments (RESPONSE.cbor, PAYLOAD_HEX ...): files.
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

complete -F _kiln_factory_tool factory_tool

_kiln_factory_client() {
    local cur prev words cword
    _kiln_comp_words || return
    local commands="handle get list verify reset delete tcp serial file sf"
    local globals="--storage --flash --time --devices --threads --forever --factory-trust -v --verbose --help --version"

    case $prev in
    --storage)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        return ;;
    --flash | --factory-trust | --input | --output)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
    --port)
        # serial --port TTY; tcp --port P (a number: nothing to offer).
        local w
        for w in "${words[@]:1:cword-1}"; do
            if [[ $w == serial ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "${cur:-/dev/tty}")
                return
            fi
        done
        COMPREPLY=()
        return ;;
    --type)
        mapfile -t COMPREPLY < <(compgen -W "config certificate public-key private-key" -- "$cur")
        return ;;
    --time | --devices | --threads | --bind | --baud | --max-length | --faults)
        COMPREPLY=()
        return ;;
    esac

    local i command=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --storage | --flash | --time | --devices | --threads | --factory-trust) ((i++)) ;;
        -*) ;;
        *) command=${words[i]}; break ;;
        esac
    done

    local options
    case $command in
    "")
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$globals" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return ;;
    get) options="--type --help" ;;
    tcp) options="--bind --port --keep-storage --max-length --faults --factory-trust --devices --threads --forever --help" ;;
    serial) options="--port --baud --keep-storage --max-length --faults --factory-trust --devices --forever --help" ;;
    file) options="--input --output --keep-storage --max-length --faults --factory-trust --help" ;;
    sf) options="--factory-trust --help" ;;
    *) options="--help" ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    elif [[ $command == handle ]]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    else
        COMPREPLY=()
    fi
}

complete -F _kiln_factory_client factory_client

_kiln_factory_service() {
    local cur prev words cword
    _kiln_comp_words || return
    local commands="init add-station revoke-station set-quota audit stats run ledger"

    case $prev in
    --log)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
    --format)
        local formats="csv json"
        [[ ${words[1]} == ledger ]] && formats="jsonl cbor"
        mapfile -t COMPREPLY < <(compgen -W "$formats" -- "$cur")
        return ;;
    --listen | --san | --batch | --url | --db | --threads | --key-uri-prefix)
        COMPREPLY=()
        return ;;
    esac

    if ((cword == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
        return
    fi
    if [[ ${words[1]} == ledger ]]; then
        if ((cword == 2)); then
            mapfile -t COMPREPLY < <(compgen -W "verify export pubkey" -- "$cur")
        elif [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--pubkey --format --output -o --db --help" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur") # DIR, an export FILE, a PEM
        fi
        return
    fi
    local options
    case ${words[1]} in
    init) options="--listen --san --key-uri-prefix" ;;
    add-station) options="--batch --url --db" ;;
    revoke-station | set-quota) options="--db" ;;
    audit) options="--refusals --format --json --db" ;;
    stats) options="--batch --format --json --db" ;;
    run) options="--listen --db --threads --log --metrics-listen --replica" ;;
    *) return ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options --help" -- "$cur")
    elif ((cword == 2)); then
        mapfile -t COMPREPLY < <(compgen -d -- "$cur") # the state folder DIR
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

complete -F _kiln_factory_service factory_service
