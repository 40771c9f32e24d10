#!/bin/sh
# First start: a UTF-8 cluster in $PGDATA, as the postgres image makes (a bare container has no
# locale: initdb would choose SQL_ASCII), whose superuser is $POSTGRES_USER (password
# $POSTGRES_PASSWORD, required over TCP), and a database $POSTGRES_DB. Then PostgreSQL in the
# foreground on 127.0.0.1:${PGPORT:-5432}.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$password_file" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    pg_ctl --pgdata="$PGDATA" --wait --options="-c listen_addresses=''" start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        createdb --username="$POSTGRES_USER" "$POSTGRES_DB"
    fi
    pg_ctl --pgdata="$PGDATA" --wait --mode=fast stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -p "${PGPORT:-5432}"
