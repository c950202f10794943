#!/usr/bin/env bash
# Makes sure a MariaDB server answers on 127.0.0.1:3306 for the test suite:
# installs Debian's mariadb-server if it is missing, starts it if it is not
# running, and fails loudly if it still does not answer.
set -euo pipefail

ping_db() { mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1 || mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }

if ping_db; then
    exit 0
fi
if [[ ! -x /usr/sbin/mariadbd ]]; then
    echo "ensure-mariadb: installing mariadb-server" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi
echo "ensure-mariadb: starting mariadbd" >&2
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld 2>/dev/null || true
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
# Poll until it answers (bounded: 60 x 0.5 s).
for _ in $(seq 60); do
    if ping_db; then
        exit 0
    fi
    sleep 0.5
done
echo "ensure-mariadb: MariaDB does not answer on 127.0.0.1:3306" >&2
exit 1
