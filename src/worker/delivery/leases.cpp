#include "worker/delivery/leases.h"

#include <spdlog/spdlog.h>

#include "worker/log_fields.h"

namespace intentlog {

std::vector<int> lease_acquire(pqxx::connection& conn, const std::string& worker, const std::string& group,
                               const std::string& domain, std::int64_t ttl_ms) {
  pqxx::nontransaction tx(conn);
  std::vector<int> out;
  for (const auto& r : tx.exec_params(
           "SELECT p FROM intentlog.lease_acquire($1, $2, $3, make_interval(secs => $4::int8 / 1000.0)) AS p", worker,
           group, domain, ttl_ms)) {
    out.push_back(r[0].as<int>());
  }
  return out;
}

void lease_release(pqxx::connection& conn, const std::string& worker, const std::string& group,
                   const std::string& domain, const std::vector<int>* partitions) {
  pqxx::nontransaction tx(conn);
  const std::string arr = partitions ? int_array_literal(*partitions) : std::string();
  tx.exec_params("SELECT intentlog.lease_release($1, $2, $3, $4::int[])", worker, group, domain,
                 partitions ? arr.c_str() : nullptr);
}

void Leases::acquire(GroupDomain& gd) {
  if (gd.lease_in_flight || ctx_.stopping) return;
  gd.lease_in_flight = true;
  const GroupDomainKey key{gd.group, gd.domain};
  const std::uint64_t gen = gd.generation;
  const std::string worker = ctx_.cfg.worker_id;
  const auto ttl = ctx_.cfg.lease_ttl.count();
  ctx_.db.run([key, worker, ttl](Store& s) { return lease_acquire(s.conn(), worker, key.first, key.second, ttl); },
              [this, key, gen, worker](std::vector<int> parts) {
                GroupDomain* gd = ctx_.find_group(key.first, key.second);
                if (!gd) {
                  // Retired while the call ran: the release may have run
                  // first, so undo the renewal rather than sit on the
                  // partitions until they expire.
                  ctx_.db.run(
                      [key, worker](Store& s) {
                        lease_release(s.conn(), worker, key.first, key.second, nullptr);
                        return true;
                      },
                      [](bool) {}, [](const std::string&) {});
                  return;
                }
                if (gd->generation != gen) return;
                gd->lease_in_flight = false;
                gd->lease_ok_at = Clock::now();
                on_held_(*gd, parts);
              },
              [this, key, gen](const std::string& error) {
                GroupDomain* gd = ctx_.find_group(key.first, key.second);
                if (!gd || gd->generation != gen) return;
                gd->lease_in_flight = false;
                spdlog::warn("event=lease_failed group={} domain={} error={}", q(key.first), q(key.second), q(error));
              });
}

void Leases::release(const GroupDomainKey& key, std::vector<std::pair<int, std::string>> finals,
                     std::function<void()> done) {
  const std::string worker = ctx_.cfg.worker_id;
  ctx_.db.run(
      [key, finals = std::move(finals), worker](Store& s) {
        for (const auto& [p, cursor] : finals) {
          try {
            s.commit_cursor(key.first, key.second, p, cursor);
          } catch (const pqxx::broken_connection&) {
            throw;
          } catch (const std::exception& e) {
            spdlog::debug("event=final_commit_skipped group={} domain={} partition={} error={}", q(key.first),
                          q(key.second), p, q(e.what()));
          }
        }
        lease_release(s.conn(), worker, key.first, key.second, nullptr);
        return true;
      },
      [key, done](bool) {
        spdlog::info("event=leases_released group={} domain={}", q(key.first), q(key.second));
        done();
      },
      [key, done](const std::string& error) {
        spdlog::warn("event=release_failed group={} domain={} error={}", q(key.first), q(key.second), q(error));
        done();
      });
}

}  // namespace intentlog
