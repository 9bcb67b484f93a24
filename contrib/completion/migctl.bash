# bash completion for migctl(1)
#
# Install: copy to /usr/share/bash-completion/completions/migctl, or source it from ~/.bashrc.
# Completes commands, mig actions (short and long), common options, GPU model slugs, GPU,
# GPU-instance and compute-instance IDs, profile names, and file and directory arguments.
# Live values come from `migctl ... --json` (with the --state, --catalog and -i already typed);
# the GPU model slugs fall back to the built-in list when migctl cannot be run.

# The built-in catalog (data/gpus/*.json).
_migctl_builtin_slugs="a100-sxm4-40gb a100-sxm4-80gb a30-24gb b200-180gb gb200-186gb
gh200-144gb gh200-96gb h100-nvl-94gb h100-pcie-80gb h100-sxm5-80gb h20-96gb h200-141gb
rtx-pro-6000-96gb"

# Runs the migctl being completed with the --state/--catalog (and -i when $1 is "gpu") typed
# so far, plus the arguments after $1; prints nothing on failure.
_migctl_run() {
    local want_gpu=$1 i w
    shift
    local -a args=()
    for ((i = 1; i < ${#_migctl_words[@]}; i++)); do
        w=${_migctl_words[i]}
        case $w in
        --state | -state | --catalog | -catalog)
            args+=("$w" "${_migctl_words[i + 1]}")
            ((i++))
            ;;
        --state=* | --catalog=*) args+=("$w") ;;
        -i | --id | -id)
            [ "$want_gpu" = gpu ] && args+=("$w" "${_migctl_words[i + 1]}")
            ((i++))
            ;;
        esac
    done
    "$_migctl_cmd" "${args[@]}" "$@" 2>/dev/null
}

# The values of a top-level JSON field (4-space indent in migctl's output): $1 the field.
_migctl_field() {
    sed -n 's/^    "'"$1"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p'
}

_migctl_slugs() {
    local s
    s=$(_migctl_run nogpu gpus --json | _migctl_field slug)
    if [ -n "$s" ]; then
        printf '%s\n' "$s"
    else
        printf '%s\n' "$_migctl_builtin_slugs" | tr ' ' '\n'
    fi
}

_migctl_gpu_ids() { _migctl_run nogpu -L --json | _migctl_field index; }
_migctl_gi_ids() { _migctl_run gpu mig -lgi --json | _migctl_field id | sort -un; }
_migctl_ci_ids() { _migctl_run gpu mig -lci --json | _migctl_field id | sort -un; }

# GI profile IDs and short names ("MIG " dropped: a name with a space needs quoting).
_migctl_gi_profiles() {
    local out
    out=$(_migctl_run gpu mig -lgip --json)
    {
        printf '%s\n' "$out" | _migctl_field id
        printf '%s\n' "$out" | _migctl_field name | sed 's/^MIG //'
    } | awk '!seen[$0]++'
}

_migctl_ci_profiles() {
    local out
    out=$(_migctl_run gpu mig -lcip --json)
    {
        printf '%s\n' "$out" | _migctl_field id
        printf '%s\n' "$out" | _migctl_field name | sed 's/^MIG //'
    } | awk '!seen[$0]++'
}

# COMPREPLY from compgen with the given arguments, one candidate a line.
_migctl_reply() {
    mapfile -t COMPREPLY < <(compgen "$@")
}

# Completes the item after the last comma of a comma-separated list from the candidates in $1
# (one a line), keeping what precedes the item.
_migctl_list() {
    local head="" item=$cur
    case $cur in *,*) head=${cur%,*}, item=${cur##*,} ;; esac
    case $item in *:*) return ;; esac # NAME:START: the start is not completed
    local IFS=$'\n'
    _migctl_reply -P "$head" -W "$1" -- "$item"
    compopt -o nospace 2>/dev/null
}

_migctl() {
    local cur prev cword
    local -a words
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n =: cur prev words cword
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    local -a _migctl_words=("${words[@]}")
    local _migctl_cmd=${words[0]}
    command -v "$_migctl_cmd" >/dev/null 2>&1 || _migctl_cmd=migctl
    COMPREPLY=()

    # --opt=value: complete the value (one word with bash-completion, three without).
    if [[ $cur == -*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    elif [ "$cur" = "=" ]; then
        cur=""
    elif [ "$prev" = "=" ] && ((cword >= 2)); then
        prev=${words[cword - 2]}
    fi

    local common="-i --id --json --state --catalog -h --help"
    local mig_short="-lgip -lgipp -cgi -C -lgi -dgi -gi -lcip -cci -lci -dci -ci"
    local mig_long="--list-gpu-instance-profiles --list-gpu-instance-possible-placements
        --create-gpu-instance --default-compute-instance --list-gpu-instances
        --destroy-gpu-instance --gpu-instance-id --list-compute-instance-profiles
        --create-compute-instance --list-compute-instances --destroy-compute-instance
        --compute-instance-id"

    # Values of the option before the cursor.
    case $prev in
    --state | -state)
        compopt -o filenames 2>/dev/null
        _migctl_reply -d -- "$cur"
        return
        ;;
    --catalog | -catalog | --svg | -svg)
        compopt -o filenames 2>/dev/null
        _migctl_reply -f -- "$cur"
        return
        ;;
    -i | --id | -id)
        _migctl_reply -W "$(_migctl_gpu_ids)" -- "$cur"
        return
        ;;
    -mig | --multi-instance-gpu)
        _migctl_reply -W "0 1" -- "$cur"
        return
        ;;
    --gpu | -gpu)
        _migctl_list "$(_migctl_slugs)"
        return
        ;;
    --model | -model)
        _migctl_reply -W "$(_migctl_slugs)" -- "$cur"
        return
        ;;
    --count | -count)
        return
        ;;
    -gi | --gi | --gpu-instance-id | -gpu-instance-id)
        _migctl_list "$(_migctl_gi_ids)"
        return
        ;;
    -ci | --ci | --compute-instance-id | -compute-instance-id)
        _migctl_list "$(_migctl_ci_ids)"
        return
        ;;
    -cgi | --cgi | --create-gpu-instance | -create-gpu-instance)
        _migctl_list "$(_migctl_gi_profiles)"
        return
        ;;
    -cci | --cci | --create-compute-instance | -create-compute-instance)
        # The list is optional: offer profiles, and options when the word starts with '-'.
        if [[ $cur != -* ]]; then
            _migctl_list "$(_migctl_ci_profiles)"
            return
        fi
        ;;
    esac

    # The command word (and the sim subcommand), skipping options and their values.
    local i w cmd="" sub=""
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
        --state | -state | --catalog | -catalog | -i | --id | -id | -mig | --multi-instance-gpu | \
            --gpu | -gpu | --count | -count | --model | -model | --svg | -svg | \
            -gi | --gi | --gpu-instance-id | -ci | --ci | --compute-instance-id | \
            -cgi | --cgi | --create-gpu-instance)
            ((i++))
            ;;
        -L | --list-gpus) [ -z "$cmd" ] && cmd=-L ;;
        -*) ;;
        *)
            if [ -z "$cmd" ]; then
                cmd=$w
            elif [ "$cmd" = sim ] && [ -z "$sub" ]; then
                sub=$w
            fi
            ;;
        esac
    done

    case $cmd in
    "")
        if [[ $cur == -* ]]; then
            _migctl_reply -W "-L --list-gpus -mig --multi-instance-gpu --version $common" -- "$cur"
        else
            _migctl_reply -W "mig gpus sim status" -- "$cur"
        fi
        ;;
    -L)
        _migctl_reply -W "$common" -- "$cur"
        ;;
    mig)
        if [[ $cur == --* ]]; then
            _migctl_reply -W "$mig_long $common" -- "$cur"
        else
            _migctl_reply -W "$mig_short $common" -- "$cur"
        fi
        ;;
    gpus)
        _migctl_reply -W "--model --json --catalog" -- "$cur"
        ;;
    status)
        _migctl_reply -W "--svg $common" -- "$cur"
        ;;
    sim)
        case $sub in
        "") _migctl_reply -W "init busy" -- "$cur" ;;
        init) _migctl_reply -W "--gpu --count --mig-disabled --state --catalog" -- "$cur" ;;
        busy)
            if [[ $cur == -* ]]; then
                _migctl_reply -W "--clear -i --id --state --catalog" -- "$cur"
            else
                _migctl_reply -W "$(_migctl_gi_ids)" -- "$cur"
            fi
            ;;
        esac
        ;;
    esac
}

complete -F _migctl migctl
