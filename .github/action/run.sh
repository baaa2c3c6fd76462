#!/usr/bin/env bash
# Run one pgdrill command for the action. Every setting reaches pgdrill as a PGDRILL_* environment
# variable set by the action's `env:` block; this script only adds the few arguments that have no
# environment form (restore's backup id and --clean/--confirm, flags) and never evaluates input text.
#
# pgdrill itself writes the job summary, step outputs, annotations and issues when GITHUB_ACTIONS is
# true. This script adds: `exit-code`, `report-path` (when the command can write a report file), and
# a short summary of its own only when pgdrill exited without writing one (a usage or setup error).
set -uo pipefail

command="${PGDRILL_ACTION_COMMAND:-}"
exe="${PGDRILL_ACTION_EXE:-}"
case "$command" in
    backup|predeploy|drill|monitor|restore|prune) ;;
    *)
        echo "::error title=pgdrill::command must be one of backup, predeploy, drill, monitor, restore, prune (got '$command')"
        exit 2 ;;
esac
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "::error title=pgdrill::pgdrill is not installed (the setup step failed)"
    exit 3
fi

is_true() { case "$1" in true|True|TRUE|yes|1|on) return 0 ;; *) return 1 ;; esac; }

# Inputs arrive as PGDRILL_INPUT_<NAME>; each non-empty one becomes PGDRILL_<NAME>, the variable
# pgdrill reads for --<name>. Empty inputs leave a PGDRILL_<NAME> set on the job untouched.
for var in "${!PGDRILL_INPUT_@}"; do
    if [ -n "${!var}" ]; then export "PGDRILL_${var#PGDRILL_INPUT_}=${!var}"; fi
    unset "$var"
done
# Issues need a token; open-issue: false withholds it.
if is_true "${PGDRILL_ACTION_OPEN_ISSUE:-true}"; then
    if [ -n "${PGDRILL_ACTION_GITHUB_TOKEN:-}" ]; then export GITHUB_TOKEN="$PGDRILL_ACTION_GITHUB_TOKEN"; fi
else
    unset GITHUB_TOKEN GH_TOKEN PGDRILL_GITHUB_TOKEN
fi
unset PGDRILL_ACTION_GITHUB_TOKEN
if is_true "${PGDRILL_ACTION_ALLOW_DOWNLOAD:-false}"; then export PGDRILL_ALLOW_DOWNLOAD=1; fi

args=("$command")
help="$("$exe" "$command" --help 2>/dev/null || true)"
has_option() { grep -q -- "$1" <<<"$help"; }

backup_id="${PGDRILL_ACTION_BACKUP_ID:-}"
case "$command" in
    restore)
        args+=("${backup_id:-latest}")
        if is_true "${PGDRILL_ACTION_CLEAN:-false}"; then args+=(--clean); fi
        if [ -n "${PGDRILL_ACTION_CONFIRM:-}" ]; then args+=(--confirm "$PGDRILL_ACTION_CONFIRM"); fi
        if is_true "${PGDRILL_ACTION_DATA_ONLY:-false}"; then args+=(--data-only); fi
        set -f
        for table in ${PGDRILL_ACTION_TABLES:-}; do args+=(--table "$table"); done
        set +f
        ;;
    drill)
        if [ -n "$backup_id" ]; then args+=(--backup "$backup_id"); fi
        ;;
    backup)
        set -f
        for tag in ${PGDRILL_ACTION_TAGS:-}; do args+=(--tag "$tag"); done
        set +f
        ;;
    predeploy)
        if is_true "${PGDRILL_ACTION_REHEARSE:-false}"; then args+=(--rehearse); fi
        # tags as flags: predeploy's --tag has no environment variable
        set -f
        for tag in ${PGDRILL_ACTION_TAGS:-}; do args+=(--tag "$tag"); done
        set +f
        ;;
    monitor)
        if [ -n "${PGDRILL_ACTION_OUTPUT:-}" ]; then args+=(--output "$PGDRILL_ACTION_OUTPUT"); fi
        ;;
    prune)
        for rule in LAST HOURLY DAILY WEEKLY MONTHLY YEARLY WITHIN; do
            var="PGDRILL_ACTION_KEEP_$rule"
            if [ -n "${!var:-}" ]; then args+=("--keep-$(tr '[:upper:]' '[:lower:]' <<<"$rule")" "${!var}"); fi
        done
        set -f
        for rule in ${PGDRILL_ACTION_KEEP_TAGS:-}; do args+=(--keep-tag "$rule"); done
        set +f
        if is_true "${PGDRILL_ACTION_FORCE:-false}"; then args+=(--force); fi
        if is_true "${PGDRILL_ACTION_DRY_RUN:-false}"; then args+=(--dry-run); fi
        ;;
esac

report=""
if has_option "--report"; then
    report="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pgdrill-$command-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}-$$.md"
    args+=(--report "$report")
fi

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
