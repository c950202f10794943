#!/usr/bin/env bash
# Roll a tagged image out to the EC2 hosts, one host at a time, so that a load
# balancer in front of them keeps serving. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy.sh [--dry-run] [--help]

Rolls DEPLOY_IMAGE:DEPLOY_TAG out to each host of DEPLOY_HOSTS in turn. On
each host, in its deploy directory: log in to the registry, pull the image,
install docker-compose.yml and the release (.env), run the database
migrations (first host only: the hosts share one database), `docker compose
up -d`, and wait for the edge's /readyz. If a host does not become ready it
is rolled back to the release it ran before, and the rollout stops: later
hosts are not touched. Running it again with the same tag changes nothing.

Each host needs Docker with Compose v2.23+, and in its deploy directory a
todo.env (from deploy/env.example) and a jwt.pem.

Options:
  -n, --dry-run   print every command that would run; run none
  -h, --help      show this help

Environment:
  DEPLOY_HOSTS              required; host names or addresses, separated by
                            spaces or commas, in rollout order
  DEPLOY_IMAGE              required; image repository without tag,
                            e.g. registry.gitlab.com/acme/todo
  DEPLOY_TAG                required; the tag to roll out (the commit SHA)
  DEPLOY_SSH_USER           SSH user (default: ec2-user)
  DEPLOY_SSH_KEY            private key file (default: ssh's own choice)
  DEPLOY_SSH_PORT           SSH port (default: 22)
  DEPLOY_KNOWN_HOSTS        known_hosts file; host keys are always verified
                            (default: ssh's own, ~/.ssh/known_hosts)
  DEPLOY_DIR                deploy directory on the hosts; a relative path is
                            taken from the SSH user's home (default: /opt/todo)
  DEPLOY_REGISTRY           registry to log in to (default: DEPLOY_IMAGE's host)
  DEPLOY_REGISTRY_USER      registry login; unset: no login (e.g. hosts use
  DEPLOY_REGISTRY_PASSWORD    an ECR credential helper); the password is sent
                            over SSH's stdin, never on a command line
  DEPLOY_COMPOSE_PROFILES   compose profiles to enable, e.g. "dev" for the
                            bundled MySQL (default: none, production uses RDS)
  DEPLOY_READY_ATTEMPTS     /readyz polls before giving up (default: 60)
  DEPLOY_READY_INTERVAL     seconds between polls (default: 2)
EOF
}

log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

dry_run=false
while (($#)); do
    case $1 in
        -n | --dry-run) dry_run=true ;;
        -h | --help) usage; exit 0 ;;
        *) log "unknown argument: $1 (see --help)"; exit 2 ;;
    esac
    shift
done

# ---- configuration ------------------------------------------------------------
hosts_list=${DEPLOY_HOSTS:-}
read -r -a hosts <<<"${hosts_list//,/ }"
((${#hosts[@]})) || die "DEPLOY_HOSTS is empty"
image=${DEPLOY_IMAGE:?DEPLOY_IMAGE is required (see --help)}
tag=${DEPLOY_TAG:?DEPLOY_TAG is required (see --help)}
ssh_user=${DEPLOY_SSH_USER:-ec2-user}
deploy_dir=${DEPLOY_DIR:-/opt/todo}
registry=${DEPLOY_REGISTRY:-${image%%/*}}
registry_user=${DEPLOY_REGISTRY_USER:-}
profiles=${DEPLOY_COMPOSE_PROFILES:-}
ready_attempts=${DEPLOY_READY_ATTEMPTS:-60}
ready_interval=${DEPLOY_READY_INTERVAL:-2}

# These values end up in a shell command and in .env on the hosts: accept
# only what an image reference, a tag and a profile list can contain.
[[ $image =~ ^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$ ]] || die "DEPLOY_IMAGE is not an image repository: $image"
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "DEPLOY_TAG is not an image tag: $tag"
[[ $profiles =~ ^[a-z0-9,_-]*$ ]] || die "DEPLOY_COMPOSE_PROFILES is not a profile list: $profiles"
[[ $ready_attempts =~ ^[1-9][0-9]*$ ]] || die "DEPLOY_READY_ATTEMPTS must be a positive integer"
[[ $ready_interval =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DEPLOY_READY_INTERVAL must be a number of seconds"
if [[ -n $registry_user && -z ${DEPLOY_REGISTRY_PASSWORD:-} ]]; then
    die "DEPLOY_REGISTRY_USER is set but DEPLOY_REGISTRY_PASSWORD is not"
fi

compose_file=$(dirname "${BASH_SOURCE[0]}")/docker-compose.yml
[[ -r $compose_file ]] || die "cannot read $compose_file"

ssh_opts=(-p "${DEPLOY_SSH_PORT:-22}" -o BatchMode=yes -o StrictHostKeyChecking=yes
    -o ConnectTimeout=10 -o ServerAliveInterval=15)
if [[ -n ${DEPLOY_SSH_KEY:-} ]]; then
    ssh_opts+=(-i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes)
fi
if [[ -n ${DEPLOY_KNOWN_HOSTS:-} ]]; then
    ssh_opts+=(-o "UserKnownHostsFile=$DEPLOY_KNOWN_HOSTS")
fi

# One SSH connection per host, shared by every command sent to it: a rollout
# sends about ten, and a handshake each would double its time.
control_dir=$(mktemp -d "${TMPDIR:-/tmp}/deploy-ssh.XXXXXX")
ssh_opts+=(-o ControlMaster=auto -o "ControlPath=$control_dir/%C" -o ControlPersist=60)
close_connections() {
    local host
    if ! $dry_run; then
        for host in "${hosts[@]}"; do
            ssh "${ssh_opts[@]}" -O exit "$ssh_user@$host" 2>/dev/null || true
        done
    fi
    rm -rf "$control_dir"
}
trap close_connections EXIT

# The release a host runs, as compose reads it from .env.
release_env="# Written by deploy.sh: the release this host runs. Do not edit.
TODO_IMAGE=$image
TODO_TAG=$tag
COMPOSE_PROFILES=$profiles
"

# The readiness probe, run inside the edge container (the image has no curl).
readonly probe='docker compose exec -T edge todo probe http http://127.0.0.1:8080/readyz'

# ---- remote execution -----------------------------------------------------------
# quote WORD: WORD as one word for a POSIX shell, readable when it is plain.
quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# on_host HOST COMMAND [STDIN-DESCRIPTION]
# Runs COMMAND in the deploy directory of HOST. With a third argument the
# command reads this function's stdin; otherwise it gets none. In a dry run,
# prints the ssh command instead (with the description standing for stdin).
on_host() {
    local host=$1 command
    command="cd $(quote "$deploy_dir") && $2"
    if $dry_run; then
        printf '+ ssh %s %s %s%s\n' "${ssh_opts[*]}" "$ssh_user@$host" "$(quote "$command")" "${3:+ < $3}"
        return 0
    fi
    # shellcheck disable=SC2029 # the command is meant for the remote shell
    if (($# == 3)); then
        ssh "${ssh_opts[@]}" "$ssh_user@$host" "$command"
    else
        ssh -n "${ssh_opts[@]}" "$ssh_user@$host" "$command"
    fi
}

# wait_ready HOST: poll the edge's /readyz until it answers 200 or attempts run out.
wait_ready() {
    local host=$1 attempt
    if $dry_run; then
        on_host "$host" "$probe"
        log "$host: (repeated up to $ready_attempts times, every ${ready_interval}s, until it succeeds)"
        return 0
    fi
    for ((attempt = 1; attempt <= ready_attempts; attempt++)); do
        if on_host "$host" "$probe"; then
            log "$host: ready"
            return 0
        fi
        ((attempt < ready_attempts)) && sleep "$ready_interval"
    done
    return 1
}

# ---- one host ----------------------------------------------------------------------
# deploy_host HOST MIGRATE(true|false)
deploy_host() {
    local host=$1 migrate=$2 previous
    log "$host: rolling out $image:$tag"

    # Preflight, and the release the host runs now (empty on a first deploy).
    local preflight='test -r todo.env && { test ! -f .env || sed -n "s/^TODO_TAG=//p" .env; }'
    if $dry_run; then
        on_host "$host" "$preflight"
        previous='(the tag in .env)'
    else
        previous=$(on_host "$host" "$preflight") ||
            die "$host: unreachable, or $deploy_dir lacks todo.env (see deploy/env.example)"
    fi
    log "$host: currently ${previous:-running nothing}"

    # Nothing on the host changes until the new image is there.
    if [[ -n $registry_user ]]; then
        on_host "$host" "docker login --username $(quote "$registry_user") --password-stdin $(quote "$registry")" \
            'DEPLOY_REGISTRY_PASSWORD' <<<"${DEPLOY_REGISTRY_PASSWORD:-}" ||
            die "$host: registry login failed; host unchanged"
    fi
    on_host "$host" "docker pull $image:$tag" || die "$host: cannot pull $image:$tag; host unchanged"

    # Keep the current release for a rollback, then install the new one.
    local save='rm -f .env.rollback docker-compose.yml.rollback && if test -f .env;'
    save+=' then cp -p .env .env.rollback && cp -p docker-compose.yml docker-compose.yml.rollback; fi'
    on_host "$host" "$save" || die "$host: cannot save the current release; host unchanged"
    if ! on_host "$host" 'cat >docker-compose.yml.new && mv docker-compose.yml.new docker-compose.yml' \
        'the local docker-compose.yml' <"$compose_file" ||
        ! on_host "$host" 'cat >.env.new && mv .env.new .env' '(the release: image, tag, profiles)' <<<"$release_env"; then
        log "$host: cannot install the release files"
        rollback "$host" "$previous"
        die "$host: rollout of $tag stopped; later hosts untouched"
    fi

    # Migrations must keep the running release working (expand, then contract
    # in a later release): the other hosts still run it during the rollout.
    if $migrate && ! on_host "$host" 'docker compose run --rm migrate'; then
        log "$host: migrations failed"
        rollback "$host" "$previous"
        die "$host: rollout of $tag stopped; later hosts untouched"
    fi

    if on_host "$host" 'docker compose up -d --remove-orphans' && wait_ready "$host"; then
        $dry_run || log "$host: now running $tag"
        return 0
    fi
    log "$host: $tag did not become ready"
    rollback "$host" "$previous"
    die "$host: rollout of $tag stopped; later hosts untouched"
}

# rollback HOST PREVIOUS-TAG: reinstate the saved release and wait for it.
rollback() {
    local host=$1 previous=$2
    if [[ -z $previous ]]; then
        log "$host: no previous release to roll back to"
        return 0
    fi
    log "$host: rolling back to $previous"
    on_host "$host" 'mv .env.rollback .env && mv docker-compose.yml.rollback docker-compose.yml' || true
    if on_host "$host" 'docker compose up -d --remove-orphans' && wait_ready "$host"; then
        log "$host: running $previous again"
    else
        log "$host: NOT READY after rollback either: needs a person"
    fi
}

# ---- rollout ---------------------------------------------------------------------
$dry_run && log "dry run: printing the commands, running none"
migrate=true
for host in "${hosts[@]}"; do
    deploy_host "$host" "$migrate"
    migrate=false
done
$dry_run || log "rolled out $image:$tag to ${#hosts[@]} host(s)"
