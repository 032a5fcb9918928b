#include "worker/delivery/sink.h"

namespace intentlog {

std::uint64_t allocate_member_id() {
  static std::uint64_t next = 1;
  return next++;
}

}  // namespace intentlog
