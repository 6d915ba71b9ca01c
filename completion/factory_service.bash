# bash completion for factory_service (kiln): commands, the state folder and options.
# Installed as share/bash-completion/completions/factory_service.

_kiln_factory_service() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    local commands="init add-station revoke-station set-quota audit stats run"

    case $prev in
    --log)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
    --format)
        mapfile -t COMPREPLY < <(compgen -W "csv json" -- "$cur")
        return ;;
    --listen | --san | --batch | --url | --db | --threads)
        COMPREPLY=()
        return ;;
    esac

    if ((cword == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
        return
    fi
    local options
    case ${words[1]} in
    init) options="--listen --san" ;;
    add-station) options="--batch --url --db" ;;
    revoke-station | set-quota) options="--db" ;;
    audit) options="--format --db" ;;
    stats) options="--batch --format --db" ;;
    run) options="--listen --db --threads --log" ;;
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
