# bash completion for factory_client (kiln): commands, transports and options.
# Installed as share/bash-completion/completions/factory_client.

_kiln_factory_client() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    local commands="handle get list verify reset delete tcp serial file sf"
    local globals="--storage --flash --time --devices --forever --factory-trust -v --verbose --help --version"

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
    --time | --devices | --bind | --baud | --max-length)
        COMPREPLY=()
        return ;;
    esac

    local i command=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --storage | --flash | --time | --devices | --factory-trust) ((i++)) ;;
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
    tcp) options="--bind --port --keep-storage --max-length --factory-trust --devices --forever --help" ;;
    serial) options="--port --baud --keep-storage --max-length --factory-trust --devices --forever --help" ;;
    file) options="--input --output --keep-storage --max-length --factory-trust --help" ;;
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
