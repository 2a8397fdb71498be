#!/usr/bin/env bash
# The write-path cost of migration 0014's indexes: a run insert + its start transition (one
# transaction, as the service's create and start each write the row) with pgbench, on two
# databases seeded alike, one at 0014 and one downgraded to 0013.
#
#   /work/wt/bench-lock bench/filters/write_path.sh [SERVER_URL] [RUNS] [SECONDS] [BEFORE] [AFTER]
#
# BEFORE and AFTER (default 0013 and 0014) are the revisions compared: the database of AFTER is
# upgraded to it (e.g. 0023 0024 for the head walk's indexes).
set -euo pipefail
server=${1:-postgresql://postgres@127.0.0.1:5432}
runs=${2:-100000}
seconds=${3:-20}
before=${4:-0013}
after=${5:-0014}
script=$(mktemp)
cat > "$script" <<'SQL'
\set g random(1, 1000000000)
BEGIN;
INSERT INTO runs (id, experiment_id, name, tags, params, participants, git_sha, git_branch, created_by)
VALUES (gen_random_uuid(), CAST(:exp AS uuid), 'bench-run-' || :g, '{gpu,sweep}',
        jsonb_build_object('lr', :g % 100, 'optimizer', 'adam'), '{alice}', md5(:g::text),
        'main', 'alice')
RETURNING id AS run_id \gset
UPDATE runs SET status = 'running', started_at = now(), version = version + 1, updated_at = now()
WHERE id = CAST(:run_id AS uuid);
COMMIT;
SQL
for revision in "$before" "$after"; do
    db="filters_write_$revision"
    psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    url="$server/$db"
    EXPSVC_DATABASE_URL=$url expsvc db upgrade "$revision" >/dev/null
    EXPSVC_DATABASE_URL=$url EXPSVC_DB_STATEMENT_TIMEOUT_MS=0 \
        expsvc seed --experiments 20 --runs "$runs" >/dev/null
    psql -q "$url" -c "VACUUM ANALYZE"
    exp=$(psql -Atq "$url" -c "SELECT id FROM experiments WHERE status = 'running' LIMIT 1")
    echo "== schema $revision, $runs seeded runs, 1 client, ${seconds}s"
    pgbench -n -M extended -c 1 -T "$seconds" -D exp="$exp" -f "$script" "$url" \
        | grep -E "latency average|tps =|number of transactions actually"
    psql -q "$server/postgres" -c "DROP DATABASE $db WITH (FORCE)"
done
rm -f "$script"
