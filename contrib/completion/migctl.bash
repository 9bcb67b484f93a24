# bash completion for migctl(1)
#
# Install: copy to /usr/share/bash-completion/completions/migctl, or source it from ~/.bashrc.
# Completes commands (mig, gpus, sim init/busy/fault, status, apply, assert, export, plan),
# mig actions (short and long), each command's options, --backend values, GPU model slugs,
# GPU, GPU-instance and compute-instance IDs, profile names, fault kinds, the labels of a
# configuration file (apply/assert -c), and file and directory arguments.
# Live values come from `migctl ... --json` (with the --state, --catalog, --backend and -i
# already typed); the GPU model slugs fall back to the built-in list when migctl cannot be run.

# The built-in catalog (data/gpus/*.json).
_migctl_builtin_slugs="a100-sxm4-40gb a100-sxm4-80gb a30-24gb b200-180gb gb200-186gb
gh200-144gb gh200-96gb h100-nvl-94gb h100-pcie-80gb h100-sxm5-80gb h20-96gb h200-141gb
rtx-pro-6000-96gb"

# Runs the migctl being completed with the --state/--catalog/--backend (and -i when $1 is
# "gpu") typed so far, plus the arguments after $1; prints nothing on failure.
_migctl_run() {
    local want_gpu=$1 i w
    shift
    local -a args=()
    for ((i = 1; i < ${#_migctl_words[@]}; i++)); do
        w=${_migctl_words[i]}
        case $w in
        --state | -state | --catalog | -catalog | --backend | -backend)
            args+=("$w" "${_migctl_words[i + 1]}")
            ((i++))
            ;;
        --state=* | --catalog=* | --backend=* | -backend=*) args+=("$w") ;;
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

# The labels of the configuration file given with -f/--config-file (else $MIGKIT_CONFIG_FILE):
# the keys under `mig-configs:` of a YAML file, or of a JSON one written one key a line.
_migctl_labels() {
    local i file=${MIGKIT_CONFIG_FILE-}
    for ((i = 1; i < ${#_migctl_words[@]} - 1; i++)); do
        case ${_migctl_words[i]} in
        -f | --config-file | -config-file) file=${_migctl_words[i + 1]} ;;
        esac
    done
    for ((i = 1; i < ${#_migctl_words[@]}; i++)); do
        case ${_migctl_words[i]} in
        --config-file=* | -config-file=*) file=${_migctl_words[i]#*=} ;;
        esac
    done
    file=${file/#\~/$HOME}
    [ -n "$file" ] && [ "$file" != - ] && [ -r "$file" ] || return
    awk '
        NR == 1 && /^[ \t]*[{[]/ { json = 1 }
        json {
            if (/^    "[^"]*": *\[/) { sub(/^    "/, ""); sub(/".*$/, ""); print }
            next
        }
        /^[^ \t#]/ { inside = ($0 ~ /^"?mig-configs"?[ \t]*:/); next }
        inside && /^  [^ \t#-]/ && /:/ {
            line = substr($0, 3)
            if (line ~ /^"/) { line = substr(line, 2); sub(/".*$/, "", line) }
            else sub(/[ \t]*:.*$/, "", line)
            print line
        }
    ' "$file" 2>/dev/null
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

    local common="-i --id --json --state --catalog --backend"
    local mig_short="-lgip -lgipp -cgi -C -lgi -dgi -gi -lcip -cci -lci -dci -ci"
    local mig_long="--list-gpu-instance-profiles --list-gpu-instance-possible-placements
        --create-gpu-instance --default-compute-instance --list-gpu-instances
        --destroy-gpu-instance --gpu-instance-id --list-compute-instance-profiles
        --create-compute-instance --list-compute-instances --destroy-compute-instance
        --compute-instance-id"

    # The command word (and the sim subcommand), skipping options and their values.
    local i w cmd="" sub=""
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
        --state | -state | --catalog | -catalog | --backend | -backend | -i | --id | -id | \
            -mig | --multi-instance-gpu | --gpu | -gpu | --count | -count | --model | -model | \
            --svg | -svg | -gi | --gi | --gpu-instance-id | -ci | --ci | --compute-instance-id | \
            -cgi | --cgi | --create-gpu-instance | -f | --file | -file | --config-file | \
            -config-file | -c | --selected-config | -selected-config | --hooks | -hooks | \
            --hooks-file | -hooks-file | -o | --output | -output | -l | --label | -label | \
            --fleet | -fleet | --headroom | -headroom)
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

    # Values of the option before the cursor.
    case $prev in
    --state | -state)
        compopt -o filenames 2>/dev/null
        _migctl_reply -d -- "$cur"
        return
        ;;
    --catalog | -catalog | --svg | -svg | -f | --file | -file | --config-file | -config-file | \
        --fleet | -fleet | --hooks | -hooks | --hooks-file | -hooks-file)
        compopt -o filenames 2>/dev/null
        _migctl_reply -f -- "$cur"
        return
        ;;
    -o | --output | -output)
        if [ "$cmd" = export ]; then
            _migctl_reply -W "yaml json" -- "$cur"
        else
            compopt -o filenames 2>/dev/null
            _migctl_reply -f -- "$cur"
        fi
        return
        ;;
    --backend | -backend)
        _migctl_reply -W "auto nvml sim" -- "$cur"
        return
        ;;
    -c | --selected-config | -selected-config)
        local IFS=$'\n'
        _migctl_reply -W "$(_migctl_labels)" -- "$cur"
        return
        ;;
    -l | --label | -label | --headroom | -headroom | --count | -count)
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

    case $cmd in
    "")
        if [[ $cur == -* ]]; then
            _migctl_reply -W "-L --list-gpus -mig --multi-instance-gpu -h --help --version
                $common" -- "$cur"
        else
            _migctl_reply -W "mig gpus sim status apply assert export plan" -- "$cur"
        fi
        ;;
    -L)
        _migctl_reply -W "$common" -- "$cur"
        ;;
    mig)
        if [[ $cur == --* ]]; then
            _migctl_reply -W "$mig_long --help $common" -- "$cur"
        else
            _migctl_reply -W "$mig_short -h --help $common" -- "$cur"
        fi
        ;;
    gpus)
        _migctl_reply -W "--model --json --catalog" -- "$cur"
        ;;
    status)
        _migctl_reply -W "--svg $common" -- "$cur"
        ;;
    apply)
        _migctl_reply -W "-f --config-file -c --selected-config --dry-run --force --hooks
            --hooks-file $common" -- "$cur"
        ;;
    assert)
        _migctl_reply -W "-f --config-file -c --selected-config --valid-config -i --id --state
            --catalog --backend" -- "$cur"
        ;;
    export)
        _migctl_reply -W "-o --output -l --label $common" -- "$cur"
        ;;
    plan)
        # No -i: the plan covers the fleet.
        _migctl_reply -W "-f --file --fleet --headroom -o --output --label --svg --json --state
            --catalog --backend" -- "$cur"
        ;;
    sim)
        case $sub in
        "") _migctl_reply -W "init busy fault" -- "$cur" ;;
        init) _migctl_reply -W "--gpu --count --mig-disabled --state --catalog" -- "$cur" ;;
        busy)
            if [[ $cur == -* ]]; then
                _migctl_reply -W "--clear -i --id --state --catalog" -- "$cur"
            else
                _migctl_reply -W "$(_migctl_gi_ids)" -- "$cur"
            fi
            ;;
        fault)
            if [[ $cur == -* ]]; then
                _migctl_reply -W "--count -i --id --state --catalog" -- "$cur"
            else
                _migctl_reply -W "create-gi create-ci destroy-gi destroy-ci" -- "$cur"
            fi
            ;;
        esac
        ;;
    esac
}

complete -F _migctl migctl
