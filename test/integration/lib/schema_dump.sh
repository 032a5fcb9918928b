#!/usr/bin/env bash
# schema_dump.sh DB: the schema of database DB, intentlog's own objects
# included, normalized so that two databases with the same schema print the
# same text. Used to prove an upgraded installation equals a fresh one.
#
# pg_dump --schema-only prints an extension as one CREATE EXTENSION line;
# --binary-upgrade (what pg_upgrade uses) prints every member object. What
# differs between equal schemas is dropped: object ids, relfrozenxid, the
# per-dump \restrict key, sequence values (data, which --binary-upgrade
# prints even with --schema-only), and the "missing value" of a column added with
# ALTER TABLE ... ADD COLUMN ... DEFAULT (0.1 added domains.validate_payloads
# that way; a fresh install creates the column with the table: the same
# column, stored the same way for every row written since). The configuration
# tables pg_dump keeps (pg_extension_config_dump) are listed by name, sorted.
set -euo pipefail
db=$1
pg_dump --schema-only --binary-upgrade "$db" |
  sed -E -e '/^\\(un)?restrict /d' \
         -e '/binary_upgrade_set_next_/d' \
         -e '/binary_upgrade_set_missing_value/d' -e '/^-- set missing value\.$/d' \
         -e "s/relfrozenxid = '[0-9]+', relminmxid = '[0-9]+'/relfrozenxid = N, relminmxid = N/" \
         -e "s/^WHERE oid = '[0-9]+';/WHERE oid = N;/" \
         -e "s/^(SELECT pg_catalog.setval\('[^']*', )[0-9]+, (true|false)\);/\1N);/" \
         -e "s/(binary_upgrade_create_empty_extension\('intentlog', 'intentlog', false, '[^']*', )'\{[0-9,]*\}', '\{[^}]*\}'/\1(config tables below)/" |
  cat -s
echo "-- extension configuration tables (pg_extension_config_dump)"
psql -XAtq -d "$db" -c "SELECT c.oid::regclass, coalesce(x.cond, '') FROM pg_extension e,
                          unnest(e.extconfig, e.extcondition) AS x(tab, cond) JOIN pg_class c ON c.oid = x.tab
                        WHERE e.extname = 'intentlog' ORDER BY c.oid::regclass::text"
