#!/usr/bin/env bash
# mnetifi stack manager: one command brings up PostgreSQL, Redis, FreeRADIUS, the API and the
# worker on private ports and data directories; another runs the tests on a separate stack.
#
#   deploy/stack.sh up     [dev|test|bench]  install what is missing, start everything (dev: + demo ISP)
#   deploy/stack.sh down   [dev|test]   stop everything of that stack (data is kept)
#   deploy/stack.sh status [dev|test]   show what runs
#   deploy/stack.sh test                up the test stack, run pytest, tear it down
#   deploy/stack.sh env    [dev|test]   print the MNETIFI_* variables of a stack
#   deploy/stack.sh db-stop|db-start [dev|test]  stop or start only PostgreSQL (outage drills)
#   deploy/stack.sh radius2|radius2-stop [dev|test|bench]  start or stop a second FreeRADIUS on
#                                       the same database (router failover), on the ports below
#
# Ports and directories can be overridden with MNETIFI_PG_PORT, MNETIFI_REDIS_PORT,
# MNETIFI_AUTH_PORT, MNETIFI_ACCT_PORT, MNETIFI_API_PORT, MNETIFI_DARAJA_PORT, MNETIFI_SMTP_PORT,
# MNETIFI_AT_PORT (the fake Africa's Talking), MNETIFI_META_PORT (the fake Meta WhatsApp Cloud API),
# MNETIFI_ATWA_PORT (the fake Africa's Talking WhatsApp) and MNETIFI_RUN_DIR;
# the second FreeRADIUS's with MNETIFI_AUTH2_PORT and MNETIFI_ACCT2_PORT (default: the first's + 2).
# MNETIFI_RADIUS_THREADS sets FreeRADIUS's worker threads and SQL connections (default: two per
# core, at least 4; radius/render.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CMD=${1:-}
PROFILE=${2:-dev}
[ "$CMD" = test ] && PROFILE=test

case "$PROFILE" in
  dev)  d_pg=55432 d_redis=56379 d_auth=1812  d_acct=1813  d_api=8000  d_daraja=18200 d_smtp=18400 d_at=18300 d_meta=18500 d_atwa=18600 ;;
  test) d_pg=55433 d_redis=56380 d_auth=21812 d_acct=21813 d_api=18000 d_daraja=18201 d_smtp=18401 d_at=18301 d_meta=18501 d_atwa=18601 ;;
  bench) d_pg=55434 d_redis=56381 d_auth=31812 d_acct=31813 d_api=18100 d_daraja=18202 d_smtp=18402 d_at=18302 d_meta=18502 d_atwa=18602 ;;
  *) echo "unknown stack '$PROFILE' (dev, test or bench)" >&2; exit 2 ;;
esac
case "${MNETIFI_RADIUS_THREADS:-4}" in
  0|*[!0-9]*) echo "MNETIFI_RADIUS_THREADS must be a number of threads, not '$MNETIFI_RADIUS_THREADS'" >&2; exit 2 ;;
esac
PG_PORT=${MNETIFI_PG_PORT:-$d_pg}
REDIS_PORT=${MNETIFI_REDIS_PORT:-$d_redis}
AUTH_PORT=${MNETIFI_AUTH_PORT:-$d_auth}
ACCT_PORT=${MNETIFI_ACCT_PORT:-$d_acct}
API_PORT=${MNETIFI_API_PORT:-$d_api}
DARAJA_PORT=${MNETIFI_DARAJA_PORT:-$d_daraja}
SMTP_PORT=${MNETIFI_SMTP_PORT:-$d_smtp}
AT_PORT=${MNETIFI_AT_PORT:-$d_at}
META_PORT=${MNETIFI_META_PORT:-$d_meta}
ATWA_PORT=${MNETIFI_ATWA_PORT:-$d_atwa}
AUTH2_PORT=${MNETIFI_AUTH2_PORT:-$((AUTH_PORT + 2))}
ACCT2_PORT=${MNETIFI_ACCT2_PORT:-$((ACCT_PORT + 2))}
RUN=${MNETIFI_RUN_DIR:-$ROOT/.run/$PROFILE}
VENV=$ROOT/.venv
PY=$VENV/bin/python
STATUS_CLIENT_IP=127.0.0.254

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------- installation
install_packages() {
  local missing=()
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v freeradius >/dev/null || missing+=(freeradius)
  [ -e /usr/lib/freeradius/rlm_sql_postgresql.so ] || missing+=(freeradius-postgresql)
  command -v radclient >/dev/null || missing+=(freeradius-utils)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v psql >/dev/null || missing+=(postgresql-client)
  # The browser tests drive Debian's chromium headless (Playwright, never `playwright install`:
  # a build machine may reach only package registries). Only the test stack needs a browser.
  [ "$PROFILE" = test ] && { command -v chromium >/dev/null || missing+=(chromium); }
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The packages start system-wide services; ours run on their own ports and directories, but
  # the distribution's FreeRADIUS would hold 1812/1813.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now freeradius >/dev/null 2>&1 || true
  fi
}

install_python() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
  [ -x "$PY" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
  local stamp=$VENV/.mnetifi-installed want
  want=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python dependencies into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$ROOT[test]" 2>&1 | grep -vE "^ *$|!!|\*\*\*|editable|Editable|careful|name as your|wheel_obj" >&2 || true
    echo "$want" >"$stamp"
  fi
}

# ---------------------------------------------------------------- PostgreSQL
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
# PostgreSQL refuses to run as root: then it runs as the 'postgres' system user, with its data
# where that user can reach it.
if [ "$(id -u)" = 0 ]; then
  PGDIR=/var/tmp/mnetifi-$(printf %s "$RUN" | sha256sum | cut -c1-10)
  pg() { runuser -u postgres -- "$@"; }
else
  PGDIR=$RUN/pg
  pg() { "$@"; }
fi

db_password() {
  [ -s "$RUN/secrets/db-password" ] || { umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$RUN/secrets/db-password"; }
  cat "$RUN/secrets/db-password"
}

# FreeRADIUS's own database role (mnetifi_radius, created by migration 0008 with EXECUTE on the
# radius_* functions and SELECT on the nas view only); its password lives beside the owner's.
# The key that encrypts subscribers' passwords (api/subscribers/secrets.py): the API encrypts
# with it, FreeRADIUS decrypts with it; the database never holds it.
radius_password_key() {
  [ -s "$RUN/secrets/radius-password-key" ] || { umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$RUN/secrets/radius-password-key"; }
  cat "$RUN/secrets/radius-password-key"
}
radius_db_password() {
  [ -s "$RUN/secrets/radius-db-password" ] || { umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$RUN/secrets/radius-db-password"; }
  cat "$RUN/secrets/radius-db-password"
}

# After migrate: give the role LOGIN and its password. The password goes in as a psql variable
# (:'pw' quotes it as a literal), never spliced into the SQL text.
set_radius_role() {
  PGPASSWORD=$(db_password) psql -q -X -v ON_ERROR_STOP=1 -v pw="$(radius_db_password)" \
    -h 127.0.0.1 -p "$PG_PORT" -U mnetifi -d mnetifi >/dev/null <<'SQL'
ALTER ROLE mnetifi_radius WITH LOGIN PASSWORD :'pw';
SQL
}

start_postgres() {
  mkdir -p "$RUN/secrets" && chmod 700 "$RUN/secrets"
  # As root the cluster lives outside the run directory (in /var/tmp), so it can outlive it: a
  # fresh clone at the same path would find a cluster whose password it never had. A cluster
  # without its run directory's password is an orphan: stop it and start from nothing.
  if [ -e "$PGDIR/data" ] && [ ! -s "$RUN/secrets/db-password" ]; then
    log "discarding $PGDIR: its run directory ($RUN) was removed"
    pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
  fi
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR" && chmod 700 "$PGDIR"
  if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PGDIR/data"
    local pw; pw=$(db_password)
    printf '%s\n' "$pw" | pg tee "$PGDIR/pwfile" >/dev/null
    pg "$PGBIN/initdb" -D "$PGDIR/data" -U mnetifi --auth=scram-sha-256 --pwfile="$PGDIR/pwfile" -E UTF8 >/dev/null
    pg rm -f "$PGDIR/pwfile"
  fi
  if pg "$PGBIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then return; fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 60 start -o \
    "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDIR -c max_connections=200 -c shared_buffers=256MB" >/dev/null
  PGPASSWORD=$(db_password) psql -h 127.0.0.1 -p "$PG_PORT" -U mnetifi -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mnetifi'" | grep -q 1 ||
    PGPASSWORD=$(db_password) psql -q -h 127.0.0.1 -p "$PG_PORT" -U mnetifi -d postgres -c 'CREATE DATABASE mnetifi'
}

stop_postgres() {
  [ -n "$PGBIN" ] && [ -d "$PGDIR/data" ] || return 0
  pg "$PGBIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1 || return 0
  log "stopping PostgreSQL"
  pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null
}

# ---------------------------------------------------------------- Redis
start_redis() {
  mkdir -p "$RUN/redis"
  redis_alive && return
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" --daemonize yes \
    --pidfile "$RUN/redis/redis.pid" --logfile "$RUN/redis/redis.log" --save '' --appendonly yes >/dev/null
  for _ in $(seq 50); do redis_alive && return; sleep 0.1; done
  die "Redis did not start: $RUN/redis/redis.log"
}
redis_alive() { redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; }
stop_redis() { redis_alive && { log "stopping Redis"; redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }; return 0; }

# ---------------------------------------------------------------- processes with pid files
# What an earlier copy of this stack left running on its ports (its run directory deleted under
# it) is stopped; a stranger on one of them stops the start (deploy/leftovers.py).
stop_leftovers() {
  python3 "$ROOT/deploy/leftovers.py" --mine "$ROOT" "$RUN" "$PGDIR" \
    --tcp "$PG_PORT" "$REDIS_PORT" "$API_PORT" "$DARAJA_PORT" "$SMTP_PORT" "$AT_PORT" "$META_PORT" "$ATWA_PORT" \
    --udp "$AUTH_PORT" "$ACCT_PORT" "$AUTH2_PORT" "$ACCT2_PORT" \
    --pidfile "$PGDIR/data/postmaster.pid" "$RUN/redis/redis.pid" "$RUN/radius/radiusd.pid" \
      "$RUN/radius2/radiusd.pid" "$RUN/api.pid" "$RUN/worker.pid" "$RUN/daraja.pid" \
      "$RUN/mailbox.pid" "$RUN/africastalking.pid" "$RUN/meta_whatsapp.pid" "$RUN/at_whatsapp.pid" ||
    die "a port of the $PROFILE stack is taken (above)"
}

stop_pid() {  # name pidfile
  local pid; pid=$(cat "$2" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$2"
}

# start_freeradius [instance auth-port acct-port]: the stack's own is "radius" (configuration in
# $RUN/raddb, pid, logs and accounting spool in $RUN/radius); "radius2" is a second one on the
# same database for router failover ($RUN/raddb2, $RUN/radius2). Each has its own spool and
# spool reader, so either replays what it took while PostgreSQL was down.
start_freeradius() {
  local inst=${1:-radius} auth=${2:-$AUTH_PORT} acct=${3:-$ACCT_PORT}
  local dir=$RUN/$inst raddb=$RUN/raddb${inst#radius} name=FreeRADIUS
  [ "$inst" = radius ] || name="FreeRADIUS ($inst)"
  stop_pid "$name" "$dir/radiusd.pid"
  mkdir -p "$dir/log" "$dir/radacct"
  log "starting $name on auth $auth, acct $acct"
  "$PY" -m radius.render --out "$raddb" \
    --set RUN_DIR="$dir" --set DB_PORT="$PG_PORT" --set DB_USER=mnetifi_radius \
    --set DB_PASSWORD="$(radius_db_password)" --set DB_NAME=mnetifi \
    --set RADIUS_PASSWORD_KEY="$(radius_password_key)" \
    --set AUTH_PORT="$auth" --set ACCT_PORT="$acct" \
    --set STATUS_CLIENT_IP="$STATUS_CLIENT_IP" --set STATUS_SECRET="$(status_secret)" \
    ${MNETIFI_RADIUS_THREADS:+--set THREADS="$MNETIFI_RADIUS_THREADS"}
  freeradius -C -d "$raddb" >/dev/null 2>&1 || { freeradius -XC -d "$raddb" | tail -20; die "$name configuration check failed"; }
  freeradius -d "$raddb"
  for _ in $(seq 50); do radius_alive "$auth" && return; sleep 0.1; done
  die "$name does not answer Status-Server: $dir/log/radius.log"
}
radius_alive() {  # [auth-port]
  printf 'Message-Authenticator = 0x00\nPacket-Src-IP-Address = %s\n' "$STATUS_CLIENT_IP" |
    radclient -q -r 1 -t 1 -- "127.0.0.1:${1:-$AUTH_PORT}" status "$(status_secret)" >/dev/null 2>&1
}
start_radius2() {
  [ -s "$RUN/env" ] || die "the $PROFILE stack is not set up: run deploy/stack.sh up $PROFILE first"
  start_freeradius radius2 "$AUTH2_PORT" "$ACCT2_PORT"
}
status_secret() {
  [ -s "$RUN/secrets/status-secret" ] || { umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(16))' >"$RUN/secrets/status-secret"; }
  cat "$RUN/secrets/status-secret"
}
app_key() {
  [ -s "$RUN/secrets/app-key" ] || { umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$RUN/secrets/app-key"; }
  cat "$RUN/secrets/app-key"
}

write_env() {
  # Callbacks come from the fake Daraja on loopback; Safaricom's own list stays in. The test
  # profile plays a reverse proxy at 127.0.0.3 (tests/test_payment_hooks.py).
  local safaricom
  safaricom=$(cd "$ROOT" && "$PY" -c 'from api.config import SAFARICOM_CALLBACK_IPS as s; print(s)')
  CALLBACK_ALLOWLIST="127.0.0.1,$safaricom"
  TRUSTED_PROXIES=$( [ "$PROFILE" = test ] && echo 127.0.0.3 || echo "" )
  umask 077
  cat >"$RUN/env" <<EOF
export MNETIFI_ENVIRONMENT=$( [ "$PROFILE" = test ] && echo test || echo development )
export MNETIFI_DATABASE_URL=postgresql+asyncpg://mnetifi:$(db_password)@127.0.0.1:$PG_PORT/mnetifi
export MNETIFI_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export MNETIFI_SECRET_KEY=$(app_key)
export MNETIFI_RADIUS_HOST=127.0.0.1
export MNETIFI_RADIUS_AUTH_PORT=$AUTH_PORT
export MNETIFI_RADIUS_ACCT_PORT=$ACCT_PORT
export MNETIFI_RADIUS_STATUS_SECRET=$(status_secret)
export MNETIFI_RADIUS_STATUS_SOURCE=$STATUS_CLIENT_IP
export MNETIFI_RADIUS_SERVERS=127.0.0.1:$AUTH_PORT:$ACCT_PORT,127.0.0.1:$AUTH2_PORT:$ACCT2_PORT
export MNETIFI_API_URL=http://127.0.0.1:$API_PORT
export MNETIFI_DARAJA_URL=http://127.0.0.1:$DARAJA_PORT
export MNETIFI_SMTP_HOST=127.0.0.1
export MNETIFI_SMTP_PORT=$SMTP_PORT
export MNETIFI_SMTP_TLS=none
export MNETIFI_PUBLIC_URL=http://127.0.0.1:$API_PORT
export MNETIFI_AT_URL=http://127.0.0.1:$AT_PORT
export MNETIFI_AT_USERNAME=mnetifi-platform
export MNETIFI_AT_API_KEY=demo-platform-api-key
export MNETIFI_AT_SENDER_ID=MNETIFI
export MNETIFI_META_GRAPH_URL=http://127.0.0.1:$META_PORT
export MNETIFI_AT_WHATSAPP_URL=http://127.0.0.1:$ATWA_PORT
export MNETIFI_CALLBACK_ALLOWLIST=$CALLBACK_ALLOWLIST
export MNETIFI_TRUSTED_PROXIES=$TRUSTED_PROXIES
export MNETIFI_RUN_DIR=$RUN
export MNETIFI_RADIUS_DB_USER=mnetifi_radius
export MNETIFI_RADIUS_DB_PASSWORD=$(radius_db_password)
export MNETIFI_RADIUS_PASSWORD_KEY=$(radius_password_key)
export PATH=$VENV/bin:\$PATH
EOF
}

# The fake Daraja (deploy/fakes/daraja.py): M-Pesa's API on loopback, for tests and the demo.
start_daraja() {
  stop_pid "fake Daraja" "$RUN/daraja.pid"
  log "starting the fake Daraja on http://127.0.0.1:$DARAJA_PORT"
  (cd "$ROOT" && exec setsid "$PY" -m uvicorn deploy.fakes.daraja:app --host 127.0.0.1 \
     --port "$DARAJA_PORT" >"$RUN/daraja.log" 2>&1 </dev/null) & echo $! >"$RUN/daraja.pid"
  for _ in $(seq 100); do
    "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$DARAJA_PORT/__fake__/health', timeout=1)" 2>/dev/null && return
    kill -0 "$(cat "$RUN/daraja.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$RUN/daraja.log" >&2; die "the fake Daraja did not start"
}

# The local SMTP server (deploy/fakes/mailbox.py): mail to staff lands in $RUN/mailbox.
start_mailbox() {
  stop_pid "mailbox" "$RUN/mailbox.pid"
  log "starting the local SMTP server on 127.0.0.1:$SMTP_PORT (mail kept in $RUN/mailbox)"
  (cd "$ROOT" && exec setsid "$PY" -m deploy.fakes.mailbox --port "$SMTP_PORT" --dir "$RUN/mailbox" \
     >"$RUN/mailbox.log" 2>&1 </dev/null) & echo $! >"$RUN/mailbox.pid"
  for _ in $(seq 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $SMTP_PORT), 1).close()" 2>/dev/null && return
    kill -0 "$(cat "$RUN/mailbox.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$RUN/mailbox.log" >&2; die "the local SMTP server did not start"
}

# The fake Africa's Talking (deploy/fakes/africastalking.py): bulk SMS on loopback, posting
# delivery reports to this stack's API.
start_africastalking() {
  stop_pid "fake Africa's Talking" "$RUN/africastalking.pid"
  log "starting the fake Africa's Talking on http://127.0.0.1:$AT_PORT"
  (cd "$ROOT" && FAKE_AT_CALLBACK_URL=http://127.0.0.1:$API_PORT/hooks/sms/delivery exec setsid \
     "$PY" -m uvicorn deploy.fakes.africastalking:app --host 127.0.0.1 --port "$AT_PORT" \
     >"$RUN/africastalking.log" 2>&1 </dev/null) & echo $! >"$RUN/africastalking.pid"
  for _ in $(seq 100); do
    "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$AT_PORT/__fake__/health', timeout=1)" 2>/dev/null && return
    kill -0 "$(cat "$RUN/africastalking.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$RUN/africastalking.log" >&2; die "the fake Africa's Talking did not start"
}

# The fakes of the two WhatsApp providers (deploy/fakes/meta_whatsapp.py, at_whatsapp.py): each
# posts status callbacks to the URL an ISP registers with it (its control API), as the real
# dashboards are told.
start_fake() {  # name module port
  stop_pid "fake $1" "$RUN/$2.pid"
  log "starting the fake $1 on http://127.0.0.1:$3"
  (cd "$ROOT" && exec setsid "$PY" -m uvicorn "deploy.fakes.$2:app" --host 127.0.0.1 --port "$3" \
     >"$RUN/$2.log" 2>&1 </dev/null) & echo $! >"$RUN/$2.pid"
  for _ in $(seq 100); do
    "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$3/__fake__/health', timeout=1)" 2>/dev/null && return
    kill -0 "$(cat "$RUN/$2.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$RUN/$2.log" >&2; die "the fake $1 did not start"
}

start_app() {
  stop_pid API "$RUN/api.pid"
  stop_pid worker "$RUN/worker.pid"
  log "starting API on http://127.0.0.1:$API_PORT and the worker"
  (cd "$ROOT" && . "$RUN/env" && exec setsid "$VENV/bin/uvicorn" api.main:app --host 127.0.0.1 \
     --port "$API_PORT" --no-proxy-headers --no-server-header >"$RUN/api.log" 2>&1 </dev/null) & echo $! >"$RUN/api.pid"
  (cd "$ROOT" && . "$RUN/env" && exec setsid "$VENV/bin/arq" api.worker.WorkerSettings \
     >"$RUN/worker.log" 2>&1 </dev/null) & echo $! >"$RUN/worker.pid"
  for _ in $(seq 100); do
    # Any HTTP answer means it serves; /healthz itself may say 503 while a part is still starting.
    "$PY" -c "import urllib.request as u, urllib.error as e
try: u.urlopen('http://127.0.0.1:$API_PORT/healthz', timeout=1)
except e.HTTPError: pass" 2>/dev/null && return
    kill -0 "$(cat "$RUN/api.pid")" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$RUN/api.log" >&2; die "API did not become healthy"
}

migrate() {
  log "applying migrations"
  (cd "$ROOT" && . "$RUN/env" && "$VENV/bin/alembic" upgrade head >/dev/null)
  set_radius_role
}

seed_demo() {
  . "$RUN/env"
  local mn=$VENV/bin/mnetifi
  if ! "$mn" tenant show demo >/dev/null 2>&1; then
    log "seeding the demo ISP"
    [ -s "$RUN/secrets/demo-admin-password" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(12))' >"$RUN/secrets/demo-admin-password")
    [ -s "$RUN/secrets/demo-router-secret" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$RUN/secrets/demo-router-secret")
    # --option=value: a generated secret starts with "-" one time in 64, and as a separate word
    # argparse would take it for an option.
    "$mn" tenant create --slug demo --name "Demo ISP" --admin-email admin@demo.mnetifi.com \
      --admin-password="$(cat "$RUN/secrets/demo-admin-password")" >/dev/null
    "$mn" router add --tenant demo --name "demo-router" --ip 127.0.0.1 \
      --secret="$(cat "$RUN/secrets/demo-router-secret")" >/dev/null
    "$mn" plan add --tenant demo --name "1 Hour" --price 10 --duration 1h --up 2M --down 4M --devices 1 >/dev/null
    "$mn" plan add --tenant demo --name "1 Day" --price 50 --duration 1d --up 5M --down 10M --devices 2 --data 5GB >/dev/null
    "$mn" vouchers generate --tenant demo --plan "1 Hour" --count 10 >/dev/null
    # M-Pesa through the fake Daraja's demo app, so the whole buy flow works locally.
    DARAJA_CONSUMER_KEY=demo-consumer-key DARAJA_CONSUMER_SECRET=demo-consumer-secret \
      DARAJA_PASSKEY=bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919 \
      "$mn" payments account --tenant demo --shortcode 174379 >/dev/null
  fi
  # SMS through the fake Africa's Talking's demo account (also on stacks seeded before SMS).
  AT_API_KEY=demo-isp-api-key "$mn" sms account --tenant demo --username demo-isp \
    --sender-id DEMOISP >/dev/null
  # The monthly side: zones, a plan, a pool, a PPPoE subscriber (its /account password in the
  # secrets), a static client, a customer who asked for offers (deploy/seed_demo.py).
  [ -s "$RUN/secrets/demo-subscriber-password" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(9))' >"$RUN/secrets/demo-subscriber-password")
  (cd "$ROOT" && . "$RUN/env" && "$PY" -m deploy.seed_demo "$(cat "$RUN/secrets/demo-subscriber-password")")
}

print_summary() {
  local code secret
  code=$("$VENV/bin/mnetifi" vouchers list --tenant demo --status unused --limit 1 | head -1)
  secret=$(cat "$RUN/secrets/demo-router-secret")
  cat <<EOF

mnetifi is up ($PROFILE stack)
  API          http://127.0.0.1:$API_PORT        (OpenAPI: http://127.0.0.1:$API_PORT/docs, health: /healthz)
  RADIUS       127.0.0.1 auth $AUTH_PORT, acct $ACCT_PORT
  Fake Daraja  http://127.0.0.1:$DARAJA_PORT  app demo-consumer-key / demo-consumer-secret, paybill 174379 (sandbox passkey)
  Fake SMS     http://127.0.0.1:$AT_PORT  Africa's Talking; what each phone received: /__fake__/messages
  Fake WhatsApp http://127.0.0.1:$META_PORT (Meta Cloud API), http://127.0.0.1:$ATWA_PORT (Africa's Talking)
  PostgreSQL   127.0.0.1:$PG_PORT db mnetifi     Redis 127.0.0.1:$REDIS_PORT
  Mail         SMTP 127.0.0.1:$SMTP_PORT; every message kept in $RUN/mailbox/
  Admin login  tenant demo, admin@demo.mnetifi.com / $(cat "$RUN/secrets/demo-admin-password")
  Self-care    http://demo.mnetifi.com:$API_PORT/account  PPPoE subscriber amina.otieno / $(cat "$RUN/secrets/demo-subscriber-password")
  Dashboard    http://demo.mnetifi.com:$API_PORT/admin/  (once demo.mnetifi.com resolves to 127.0.0.1: /etc/hosts)
  CLI          source $RUN/env && mnetifi --help
  Log a demo voucher in, as the demo router (127.0.0.1) would:
    printf 'User-Name = "$code"\\nUser-Password = "$code"\\nCalling-Station-Id = "AA:BB:CC:DD:EE:01"\\n' | radclient -x -- 127.0.0.1:$AUTH_PORT auth '$secret'
  Buy a package by M-Pesa (the fake Daraja plays the phone and calls back), then watch it:
    curl -s -H 'Host: demo.mnetifi.com' http://127.0.0.1:$API_PORT/api/v1/portal/plans
    curl -s -H 'Host: demo.mnetifi.com' -H 'Content-Type: application/json' -d '{"plan_id": 1, "phone": "0712345678"}' http://127.0.0.1:$API_PORT/api/v1/portal/purchases
    curl -sN -H 'Host: demo.mnetifi.com' http://127.0.0.1:$API_PORT/api/v1/portal/purchases/<id>/events
  Stop everything: deploy/stack.sh down
EOF
}

up() {
  install_packages
  [ -n "$PGBIN" ] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  stop_leftovers
  install_python
  mkdir -p "$RUN/secrets"
  chmod 700 "$RUN/secrets"
  start_postgres
  write_env
  migrate
  start_redis
  start_freeradius
  start_daraja
  start_mailbox
  start_africastalking
  start_fake "Meta WhatsApp" meta_whatsapp "$META_PORT"
  start_fake "Africa's Talking WhatsApp" at_whatsapp "$ATWA_PORT"
  start_app
  if [ "$PROFILE" = dev ]; then seed_demo; print_summary; fi
}

down() {
  stop_pid "fake Daraja" "$RUN/daraja.pid"
  stop_pid mailbox "$RUN/mailbox.pid"
  stop_pid "fake Africa's Talking" "$RUN/africastalking.pid"
  stop_pid "fake Meta WhatsApp" "$RUN/meta_whatsapp.pid"
  stop_pid "fake Africa's Talking WhatsApp" "$RUN/at_whatsapp.pid"
  stop_pid worker "$RUN/worker.pid"
  stop_pid API "$RUN/api.pid"
  stop_pid FreeRADIUS "$RUN/radius/radiusd.pid"
  stop_pid "FreeRADIUS (radius2)" "$RUN/radius2/radiusd.pid"
  stop_redis
  stop_postgres
}

status() {
  local pid
  for p in api worker daraja mailbox africastalking meta_whatsapp at_whatsapp radius/radiusd radius2/radiusd; do
    pid=$(cat "$RUN/$p.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$p: running ($pid)"; else echo "$p: stopped"; fi
  done
  redis_alive && echo "redis: running" || echo "redis: stopped"
  { [ -n "$PGBIN" ] && pg "$PGBIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1 && echo "postgres: running"; } || echo "postgres: stopped"
}

run_tests() {
  # A fresh test stack every run: no state carried over from an earlier run.
  down >/dev/null 2>&1 || true
  rm -rf "$RUN" "$PGDIR"
  trap 'down >/dev/null 2>&1 || true' EXIT
  up
  log "running the tests"
  set +e
  (cd "$ROOT" && . "$RUN/env" && "$VENV/bin/pytest" "${@}")
  local rc=$?
  set -e
  return $rc
}

case "$CMD" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) cat "$RUN/env" ;;
  db-stop) stop_postgres ;;
  db-start) start_postgres ;;
  radius2) start_radius2 ;;
  radius2-stop) stop_pid "FreeRADIUS (radius2)" "$RUN/radius2/radiusd.pid" ;;
  test) shift 2>/dev/null || true; [ "${1:-}" = test ] && shift; run_tests "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
