// The one error boundary between C++ and PostgreSQL.
//
// A C++ exception must never unwind through a PostgreSQL frame, and an
// ereport(ERROR) longjmp must never jump over a live C++ object with a
// destructor. So:
//  - every SQL-callable function is defined with INTENTLOG_FUNCTION, whose
//    body runs inside cxx_call: an exception that escapes it becomes an ERROR
//    carrying the exception's message, raised after the catch block ended;
//  - code that calls PostgreSQL keeps no C++ object with a destructor alive
//    across a call that can raise (it uses palloc'd memory and plain
//    structs). C++ that needs such objects runs in a cxx_call section of its
//    own, whose lambda owns them all; memory it hands out is allocated with
//    alloc_or_throw (MCXT_ALLOC_NO_OOM), so running out of memory there
//    throws instead of raising.
#pragma once

#include <exception>
#include <new>
#include <string_view>

#include "extension/pg.h"

namespace intentlog::pg {

// What an exception becomes: a SQLSTATE and its message, in storage of its
// own so that nothing is allocated while the exception is being handled.
struct CaughtError {
  int sqlstate;
  char message[512];
};

// Describes the exception being handled; call only inside a catch block.
void describe_current_exception(CaughtError* out) noexcept;

// Raises `e` as an ERROR. `stack` and `context` are PostgreSQL's error
// handler and error-context stacks as they were on entering the section: an
// exception that unwound through a PG_TRY left them pointing into frames that
// are gone, so they are put back first.
[[noreturn]] void raise_caught(const CaughtError& e, sigjmp_buf* stack, ErrorContextCallback* context);

// Runs f() and returns its result. An exception that escapes f becomes
// ereport(ERROR): 53200 for std::bad_alloc, XX000 with the exception's
// message otherwise.
template <typename F>
decltype(auto) cxx_call(F&& f) {
  sigjmp_buf* const stack = PG_exception_stack;
  ErrorContextCallback* const context = error_context_stack;
  CaughtError caught;
  try {
    return f();
  } catch (...) {
    describe_current_exception(&caught);
  }
  raise_caught(caught, stack, context);
}

// `size` bytes in `cxt` for use inside a cxx_call section: throws
// std::bad_alloc where MemoryContextAlloc would raise.
void* alloc_or_throw(MemoryContext cxt, Size size);

// A NUL-terminated copy of `s` in `cxt`, allocated as alloc_or_throw does.
char* copy_out(MemoryContext cxt, std::string_view s);

}  // namespace intentlog::pg

// Defines the SQL-callable C function `name` (PG_FUNCTION_INFO_V1, C linkage)
// with the body that follows, run inside cxx_call:
//
//   INTENTLOG_FUNCTION(intentlog_valid_cursor) {
//     ...
//     PG_RETURN_BOOL(ok);
//   }
//
// The body sees `fcinfo` as an fmgr function does.
#define INTENTLOG_FUNCTION(name)                                                           \
  static Datum name##_body(FunctionCallInfo fcinfo);                                       \
  extern "C" {                                                                             \
  PG_FUNCTION_INFO_V1(name);                                                               \
  PGDLLEXPORT Datum name(PG_FUNCTION_ARGS) {                                               \
    return ::intentlog::pg::cxx_call([fcinfo]() -> Datum { return name##_body(fcinfo); }); \
  }                                                                                        \
  }                                                                                        \
  static Datum name##_body(FunctionCallInfo fcinfo)
