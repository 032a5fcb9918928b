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
EXT_VERSION = 0.1

EXT_SRCS  = $(wildcard src/extension/*.cpp)
CORE_SRCS = src/common/partitioner.cpp src/common/snapshot_cursor.cpp \
            src/common/validation.cpp src/common/schema_compat.cpp \
            src/common/payload_codec.cpp
OBJS      = $(EXT_SRCS:.cpp=.o) $(CORE_SRCS:.cpp=.o)

DATA_built = sql/intentlog--$(EXT_VERSION).sql
EXTRA_CLEAN = sql/intentlog--$(EXT_VERSION).sql $(OBJS:.o=.d)

PG_CPPFLAGS = -Isrc
# Warnings are errors (make WERROR= to build anyway with a compiler that warns
# of something new).
WERROR      ?= -Werror
PG_CXXFLAGS = -std=c++17 -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register $(WERROR) -MMD -MP
SHLIB_LINK  = -lstdc++ -lprotobuf

REGRESS      = setup append fetch errors staged schemas delivery
REGRESS_OPTS = --inputdir=test/regress --outputdir=build/regress

# No JIT bitcode: it would need clang, and the append path gains nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header dependencies (-MMD): a changed struct rebuilds every object using it.
-include $(OBJS:.o=.d)

# The install script is assembled from ordered parts so that each concept keeps
# its own file (catalog, append, read path, maintenance, roles, ...).
sql/intentlog--$(EXT_VERSION).sql: $(sort $(wildcard sql/src/*.sql))
	cat $^ > $@

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
