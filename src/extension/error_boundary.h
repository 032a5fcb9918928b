// The one error boundary between C++ and PostgreSQL (STYLE.md).
//
// A C++ exception must never unwind through a PostgreSQL frame and an
// ereport(ERROR) longjmp must never jump over a live C++ object with a
// destructor. So:
//  - glue code that calls PostgreSQL keeps no C++ objects with destructors
//    alive across those calls (it uses palloc'd memory and plain structs);
//  - C++ code that may throw (allocating containers) runs inside cxx_call(),
//    whose lambda owns every C++ object; an exception is caught there and
//    raised as an ERROR only after the catch block has ended.
#pragma once

#include <exception>
#include <new>

#include "extension/pg.h"

namespace intentlog::pg {

// Runs f() (C++ only, no PostgreSQL calls that can raise). Exceptions become
// ereport(ERROR) with a SQLSTATE, raised outside of any C++ frame of f.
template <typename F>
void cxx_call(F&& f) {
  const char* what = nullptr;
  int sqlstate = ERRCODE_INTERNAL_ERROR;
  try {
    f();
    return;
  } catch (const std::bad_alloc&) {
    what = "out of memory in intentlog";
    sqlstate = ERRCODE_OUT_OF_MEMORY;
  } catch (...) {
    what = "internal error in intentlog";
  }
  ereport(ERROR, (errcode(sqlstate), errmsg("%s", what)));
}

}  // namespace intentlog::pg
