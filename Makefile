# intentlog — top-level build.
#
#   make                 build the extension (PGXS)
#   make programs        build the worker, intentlog-tail and the unit tests (CMake)
#   make install         install the extension into the PostgreSQL of pg_config
#   make test            every test (see scripts/test.sh)
#   make demo            the main job end to end (see scripts/demo.sh)
#
# The extension is built with PGXS so that it installs like any other
# PostgreSQL extension; the worker, the consumer CLI and the unit tests are
# plain C++ programs built with CMake into build/.

PG_CONFIG ?= pg_config

EXTENSION   = intentlog
MODULE_big  = intentlog
# The version is written once, in the control file.
EXT_VERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" intentlog.control)

EXT_SRCS  = $(wildcard src/extension/*.cpp)
CORE_SRCS = src/common/partitioner.cpp src/common/snapshot_cursor.cpp \
            src/common/validation.cpp src/common/schema_compat.cpp \
            src/common/payload_codec.cpp
OBJS      = $(EXT_SRCS:.cpp=.o) $(CORE_SRCS:.cpp=.o)

# SQL (sql/README.md): the current version's install script and an upgrade
# script from each earlier version are assembled from sql/; released scripts
# (sql/released/) are installed as they are, never edited.
SQL_STRUCTURE = $(sort $(wildcard sql/structure/*.sql))
SQL_REAPPLIED = $(sort $(wildcard sql/functions/*.sql)) sql/triggers.sql sql/views.sql sql/grants.sql
SQL_UPGRADES  = $(patsubst sql/upgrade/%.sql,sql/intentlog--%.sql,$(wildcard sql/upgrade/*--$(EXT_VERSION).sql))
DATA        = $(wildcard sql/released/intentlog--*.sql)
DATA_built  = sql/intentlog--$(EXT_VERSION).sql $(SQL_UPGRADES)
EXTRA_CLEAN = $(DATA_built) $(OBJS:.o=.d)

PG_CPPFLAGS = -Isrc -DINTENTLOG_VERSION='"$(EXT_VERSION)"'
# Warnings are errors (make WERROR= to build anyway with a compiler that warns
# of something new).
WERROR      ?= -Werror
PG_CXXFLAGS = -std=c++17 -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register $(WERROR) -MMD -MP
SHLIB_LINK  = -lstdc++ -lprotobuf

REGRESS      = setup append fetch errors staged schemas delivery leases observability consumers intent_row
REGRESS_OPTS = --inputdir=test/regress --outputdir=build/regress

# No JIT bitcode: it would need clang, and the append path gains nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header dependencies (-MMD): a changed struct rebuilds every object using it.
-include $(OBJS:.o=.d)

# Each part once, a blank line between parts.
cat_parts = awk 'FNR == 1 && NR > 1 { print "" } { print }'

# The install script: roles, tables and types, then what every upgrade re-applies.
sql/intentlog--$(EXT_VERSION).sql: sql/roles.sql $(SQL_STRUCTURE) $(SQL_REAPPLIED) intentlog.control
	{ printf -- '-- intentlog $(EXT_VERSION) install script, assembled from sql/ by the Makefile: edit the parts (sql/README.md).\n'; \
	  printf -- '\\echo Use "CREATE EXTENSION intentlog" to load this file. \\quit\n\n'; \
	  $(cat_parts) sql/roles.sql $(SQL_STRUCTURE) $(SQL_REAPPLIED); } > $@

# An upgrade script: roles, the version's idempotent DDL (sql/upgrade/), then
# the same re-applied parts as the install script.
sql/intentlog--%--$(EXT_VERSION).sql: sql/upgrade/%--$(EXT_VERSION).sql sql/roles.sql $(SQL_REAPPLIED) intentlog.control
	{ printf -- '-- intentlog $*--$(EXT_VERSION) upgrade script, assembled from sql/ by the Makefile: edit the parts (sql/README.md).\n'; \
	  printf -- '\\echo Use "ALTER EXTENSION intentlog UPDATE" to load this file. \\quit\n\n'; \
	  $(cat_parts) sql/roles.sql $< $(SQL_REAPPLIED); } > $@

# The library knows its version (intentlog.library_version(), the maintenance
# worker's version check).
src/extension/module.o: intentlog.control

.PHONY: programs demo test unit
programs:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2

unit: programs
	cd build && ctest --output-on-failure

test:
	scripts/test.sh

demo:
	scripts/demo.sh
