# Start the servers some tests need (PostgreSQL, Redis, MariaDB) on loopback and export their URLs.
#
# Sourced by .ci/run (bash, `set -euo pipefail`) on a fresh Debian machine running as root;
# also fine to source by hand. Idempotent: what is installed is not reinstalled, what runs is
# reused. Exports ERLEN_TEST_POSTGRES_URL, ERLEN_TEST_REDIS_URL and ERLEN_TEST_MYSQL_URL (a
# variable that is already set is respected and its server left alone). Tests that need a
# server skip without its variable; MariaDB is optional (a failed install or start only warns).

_erlen_services() {
    local pg_db=erlen_test pg_user=erlen pg_password=erlen redis_port=6379
    local my_db=erlen_test my_user=erlen my_password=erlen my_port=3306
    local need_pg=0 need_redis=0 need_mysql=0
    if [ -z "${ERLEN_TEST_POSTGRES_URL:-}" ]; then need_pg=1; fi
    if [ -z "${ERLEN_TEST_REDIS_URL:-}" ]; then need_redis=1; fi
    if [ -z "${ERLEN_TEST_MYSQL_URL:-}" ]; then need_mysql=1; fi
    if [ "$need_pg$need_redis$need_mysql" = "000" ]; then return 0; fi

    # Install only what is missing (one apt-get run for both).
    local missing=()
    if [ "$need_pg" = 1 ] && ! command -v pg_ctlcluster >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    if [ "$need_redis" = 1 ] && ! command -v redis-server >/dev/null 2>&1; then
        missing+=(redis-server)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "services.sh: apt-get not found; tests needing ${missing[*]} will skip" >&2
            return 0
        fi
        echo "services.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        # policy-rc.d-less containers may refuse to start services from postinst: harmless.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi

    local i
    if [ "$need_pg" = 1 ]; then
        _erlen_as_postgres() {
            if [ "$(id -u)" = 0 ]; then
                runuser -u postgres -- "$@"
            else
                sudo -n -u postgres -- "$@"
            fi
        }
        local version cluster port status
        if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
            version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
            pg_createcluster "$version" main >/dev/null
        fi
        # The first cluster: "version name port status owner datadir logfile".
        read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
        # /run is a fresh tmpfs on some machines; the socket directory must exist.
        install -d -o postgres -g postgres -m 2775 /var/run/postgresql
        if [ "$status" != online ]; then
            # listen_addresses is left at Debian's default: 'localhost' (loopback only).
            pg_ctlcluster "$version" "$cluster" start
        fi
        for i in $(seq 1 300); do  # up to 30 s
            if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
            if [ "$i" = 300 ]; then
                echo "services.sh: PostgreSQL not ready on port $port" >&2
                return 1
            fi
            sleep 0.1
        done
        _erlen_as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE ROLE $pg_user LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$pg_user') \gexec
ALTER ROLE $pg_user WITH LOGIN PASSWORD '$pg_password';
SELECT 'CREATE DATABASE $pg_db OWNER $pg_user'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$pg_db') \gexec
SQL
        unset -f _erlen_as_postgres
        export ERLEN_TEST_POSTGRES_URL="postgresql+psycopg://$pg_user:$pg_password@127.0.0.1:$port/$pg_db"
    fi

    if [ "$need_redis" = 1 ]; then
        if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null || true)" != PONG ]; then
            # No persistence: a test server's data is disposable.
            redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
                --save "" --appendonly no --logfile /tmp/erlen-redis.log >/dev/null
        fi
        for i in $(seq 1 300); do  # up to 30 s
            if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null || true)" = PONG ]; then
                break
            fi
            if [ "$i" = 300 ]; then
                echo "services.sh: Redis not ready on port $redis_port" >&2
                return 1
            fi
            sleep 0.1
        done
        export ERLEN_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
    fi

    if [ "$need_mysql" = 1 ]; then
        if _erlen_mysql "$my_db" "$my_user" "$my_password" "$my_port"; then
            export ERLEN_TEST_MYSQL_URL="mysql+pymysql://$my_user:$my_password@127.0.0.1:$my_port/$my_db"
        else
            echo "services.sh: no MariaDB; the MySQL tests will skip" >&2
        fi
    fi
    echo "services.sh: PostgreSQL and Redis ready${ERLEN_TEST_MYSQL_URL:+, MariaDB ready}" >&2
}

# MariaDB (Debian's mariadb-server): install if missing, start on loopback (Debian's config
# binds 127.0.0.1), create the test user and database. Returns non-zero instead of failing the
# script: the MySQL tests are the only ones that need it.
_erlen_mysql() {
    local db=$1 user=$2 password=$3 port=$4 i
    _erlen_mysql_login() {  # the test user reaches its database over TCP on loopback
        mariadb --batch -h 127.0.0.1 -P "$port" -u "$user" -p"$password" -e "SELECT 1" "$db" \
            >/dev/null 2>&1
    }
    _erlen_as_root() {
        if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n -- "$@"; fi
    }
    if command -v mariadb >/dev/null 2>&1 && _erlen_mysql_login; then
        unset -f _erlen_mysql_login _erlen_as_root
        return 0  # already running and set up
    fi
    if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || return 1
        echo "services.sh: installing mariadb-server" >&2
        DEBIAN_FRONTEND=noninteractive _erlen_as_root apt-get install -y -qq mariadb-server \
            >/dev/null 2>&1 || return 1
    fi
    # A ping answers without credentials.
    if ! mariadb-admin -h 127.0.0.1 -P "$port" --silent ping >/dev/null 2>&1; then
        # The init script starts mysqld_safe directly (no systemd, no policy-rc.d needed).
        _erlen_as_root service mariadb start >/dev/null 2>&1 || return 1
    fi
    for i in $(seq 1 300); do  # up to 30 s
        if mariadb-admin -h 127.0.0.1 -P "$port" --silent ping >/dev/null 2>&1; then break; fi
        if [ "$i" = 300 ]; then
            echo "services.sh: MariaDB not ready on port $port" >&2
            return 1
        fi
        sleep 0.1
    done
    # Root talks to the server through its socket (unix_socket authentication). The test
    # user may create and drop databases named erlen_* (each test makes its own).
    _erlen_as_root mariadb --batch <<SQL || return 1
CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$user'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`erlen\_%\`.* TO '$user'@'localhost';
GRANT ALL PRIVILEGES ON \`erlen\_%\`.* TO '$user'@'127.0.0.1';
SQL
    _erlen_mysql_login
}

_erlen_services
unset -f _erlen_services _erlen_mysql _erlen_mysql_login _erlen_as_root
