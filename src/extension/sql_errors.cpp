#include "extension/sql_errors.h"

namespace intentlog::pg {
namespace {

int sqlstate_of(intentlog::Problem p) {
  using intentlog::Problem;
  switch (p) {
    case Problem::kNullArgument:
      return ERRCODE_NULL_VALUE_NOT_ALLOWED;
    case Problem::kDomainNameEmpty:
    case Problem::kDomainNameTooLong:
    case Problem::kDomainNameInvalid:
    case Problem::kGroupNameInvalid:
      return ERRCODE_INVALID_NAME;
    case Problem::kKeyTooLong:
    case Problem::kOpTooLong:
      return ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
    case Problem::kPayloadTooLarge:
    case Problem::kHeadersTooLarge:
    case Problem::kBatchTooLarge:
      return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    default:
      return ERRCODE_INVALID_PARAMETER_VALUE;
  }
}

}  // namespace

void null_argument(const char* name) {
  ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
  pg_unreachable();
}

void raise_if(const intentlog::Check& c, const char* what) {
  if (!c) return;
  if (c.limit != 0)
    ereport(ERROR, (errcode(sqlstate_of(c.problem)), errmsg("%s", intentlog::describe(c.problem)),
                    errdetail("%s: %zu bytes; the limit is %zu.", what, c.actual, c.limit)));
  ereport(ERROR, (errcode(sqlstate_of(c.problem)), errmsg("%s", intentlog::describe(c.problem))));
}

}  // namespace intentlog::pg
