// Turns validation problems (src/common/validation.h) into SQL errors with a
// SQLSTATE. Everything here raises; nothing is written before it does.
#pragma once

#include "common/validation.h"
#include "extension/pg.h"

namespace intentlog::pg {

[[noreturn]] void null_argument(const char* name);

// Raises when `c` reports a problem; `what` names the argument.
void raise_if(const intentlog::Check& c, const char* what);

}  // namespace intentlog::pg
