#include "extension/error_boundary.h"

#include <cstring>

namespace intentlog::pg {
namespace {

void set(CaughtError* out, int sqlstate, const char* message) {
  out->sqlstate = sqlstate;
  strlcpy(out->message, message, sizeof(out->message));
}

}  // namespace

void describe_current_exception(CaughtError* out) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    set(out, ERRCODE_OUT_OF_MEMORY, "out of memory in intentlog");
  } catch (const std::exception& e) {
    set(out, ERRCODE_INTERNAL_ERROR, e.what());
  } catch (...) {
    set(out, ERRCODE_INTERNAL_ERROR, "an exception of unknown type");
  }
}

void raise_caught(const CaughtError& e, sigjmp_buf* stack, ErrorContextCallback* context) {
  const bool crossed_pg_try = PG_exception_stack != stack;
  PG_exception_stack = stack;
  error_context_stack = context;
  // A bug, never a user's error: the PG_CATCH it skipped did not clean up.
  if (crossed_pg_try) elog(WARNING, "intentlog: a C++ exception unwound through a PG_TRY block");
  if (e.sqlstate == ERRCODE_OUT_OF_MEMORY) ereport(ERROR, (errcode(e.sqlstate), errmsg("%s", e.message)));
  ereport(ERROR, (errcode(e.sqlstate), errmsg("internal error in intentlog: %s", e.message)));
  pg_unreachable();
}

void* alloc_or_throw(MemoryContext cxt, Size size) {
  void* p = MemoryContextAllocExtended(cxt, size, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

char* copy_out(MemoryContext cxt, std::string_view s) {
  auto* p = static_cast<char*>(alloc_or_throw(cxt, s.size() + 1));
  memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

}  // namespace intentlog::pg
