#!/usr/bin/env bash
# Run one pgdrill command for the action. Inputs arrive as environment variables set by the
# action's `env:` block, and this script never evaluates their text. How each input reaches pgdrill
# comes from args.tsv beside this file, generated from the action description (spec.yml):
#
#   env     PGDRILL_INPUT_<NAME> becomes the variable pgdrill reads for --<name>
#   value   --flag VALUE          words   --flag WORD for each word
#   switch  --flag when true      arg     the command's argument (or its default)
#   report  --report FILE under RUNNER_TEMP, given back as the `report-path` output
#
# pgdrill itself writes the job summary, step outputs, annotations and issues when GITHUB_ACTIONS is
# true. This script adds: `exit-code`, `report-path`, and a short summary of its own only when
# pgdrill exited without writing one (a usage or setup error).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
table="$here/args.tsv"
command="${PGDRILL_ACTION_COMMAND:-}"
exe="${PGDRILL_ACTION_EXE:-}"

commands=()
rows=()
while IFS=$'\t' read -r cmd kind var target; do
    case "$cmd" in ''|'#'*) continue ;; esac
    if [ "$kind" = command ]; then commands+=("$cmd"); fi
    if [ "$cmd" = "$command" ]; then rows+=("$kind"$'\t'"$var"$'\t'"$target"); fi
done < "$table"
if [ "${#rows[@]}" -eq 0 ] || [[ "$command" == *[!a-z-]* ]]; then
    echo "::error title=pgdrill::command must be one of ${commands[*]} (got '$command')"
    exit 2
fi
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "::error title=pgdrill::pgdrill is not installed (the setup step failed)"
    exit 3
fi

is_true() { case "$1" in true|True|TRUE|yes|1|on) return 0 ;; *) return 1 ;; esac; }

# Issues need a token; open-issue: false withholds it.
if is_true "${PGDRILL_ACTION_OPEN_ISSUE:-true}"; then
    if [ -n "${PGDRILL_ACTION_GITHUB_TOKEN:-}" ]; then export GITHUB_TOKEN="$PGDRILL_ACTION_GITHUB_TOKEN"; fi
else
    unset GITHUB_TOKEN GH_TOKEN PGDRILL_GITHUB_TOKEN
fi
unset PGDRILL_ACTION_GITHUB_TOKEN
if is_true "${PGDRILL_ACTION_ALLOW_DOWNLOAD:-false}"; then export PGDRILL_ALLOW_DOWNLOAD=1; fi

args=("$command")
report=""
used=" "
for row in "${rows[@]}"; do
    IFS=$'\t' read -r kind var target <<<"$row"
    value=""
    if [ "$var" != "-" ]; then value="${!var:-}"; used+="$var "; fi
    case "$kind" in
        env) if [ -n "$value" ]; then export "$target=$value"; fi ;;
        value) if [ -n "$value" ]; then args+=("$target" "$value"); fi ;;
        switch) if is_true "$value"; then args+=("$target"); fi ;;
        arg) args+=("${value:-$target}") ;;
        words)
            set -f
            for word in $value; do args+=("$target" "$word"); done
            set +f ;;
        report)
            report="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pgdrill-$command-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}-$$.md"
            args+=("$target" "$report") ;;
    esac
done

# An input that this command does not take (the root action offers them all) is said, not dropped
# silently. Empty inputs, and switches left at false, were not given.
while IFS=$'\t' read -r cmd kind var target; do
    case "$cmd" in ''|'#'*) continue ;; esac
    if [ "$var" = "-" ] || [[ "$used" == *" $var "* ]]; then continue; fi
    used+="$var "
    value="${!var:-}"
    if [ -n "$value" ] && { [ "$kind" != switch ] || is_true "$value"; }; then
        name="${var#PGDRILL_*_}"; name="${name//_/-}"
        echo "::warning title=pgdrill::input ${name,,} is not used by pgdrill $command"
    fi
done < "$table"
for var in "${!PGDRILL_INPUT_@}"; do unset "$var"; done

# Extra arguments, split on whitespace only (no globbing, no shell evaluation).
if [ -n "${PGDRILL_ACTION_ARGS:-}" ]; then
    set -f
    # shellcheck disable=SC2206
    extra=(${PGDRILL_ACTION_ARGS})
    set +f
    args+=("${extra[@]}")
fi

if [ -n "${PGDRILL_ACTION_WORKING_DIRECTORY:-}" ]; then
    cd "$PGDRILL_ACTION_WORKING_DIRECTORY" || { echo "::error title=pgdrill::working-directory $PGDRILL_ACTION_WORKING_DIRECTORY does not exist"; exit 2; }
fi

summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
before=0
[ -f "$summary" ] && before="$(wc -c <"$summary")"
errlog="$(mktemp)"
trap 'rm -f "$errlog"' EXIT

echo "pgdrill ${args[*]}"
"$exe" "${args[@]}" 2> >(tee "$errlog" >&2)
rc=$?
wait  # let tee finish

{
    echo "exit-code=$rc"
    if [ -n "$report" ] && [ -s "$report" ]; then echo "report-path=$report"; fi
} >> "${GITHUB_OUTPUT:-/dev/null}"

after=0
[ -f "$summary" ] && after="$(wc -c <"$summary")"
if [ "$rc" -ne 0 ] && [ "$after" -le "$before" ]; then
    case "$rc" in
        1) meaning="a check failed" ;;
        2) meaning="usage or configuration error" ;;
        3) meaning="infrastructure error (database, store or GitHub unreachable)" ;;
        *) meaning="unexpected exit" ;;
    esac
    {
        echo "### pgdrill $command failed (exit $rc: $meaning)"
        echo
        echo '```'
        tail -n 20 "$errlog"   # pgdrill scrubs secrets from everything it prints
        echo '```'
    } >> "$summary"
fi
exit "$rc"
