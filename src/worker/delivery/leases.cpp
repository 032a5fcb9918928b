#include "worker/delivery/leases.h"

#include <spdlog/spdlog.h>

#include "worker/delivery_store.h"
#include "worker/log_fields.h"

namespace intentlog {

const char kLeaseAcquireAllSql[] =
    "SELECT domain, partition FROM intentlog.lease_acquire_all($1, $2, $3::text[],"
    " make_interval(secs => $4::int8 / 1000.0))";

std::map<std::string, LeaseOutcome> lease_acquire_all(pqxx::connection& conn, const std::string& worker,
                                                      const std::string& group, const std::vector<std::string>& domains,
                                                      std::int64_t ttl_ms) {
  std::map<std::string, LeaseOutcome> out;
  for (const auto& d : domains) out[d];
  try {
    pqxx::nontransaction tx(conn);
    for (const auto& r : tx.exec_prepared("lease_acquire_all", worker, group, text_array_literal(domains), ttl_ms)) {
      out[r[0].as<std::string>()].partitions.push_back(r[1].as<int>());
    }
    return out;
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::sql_error&) {
    // One domain at a time below: the error then stays with its domain.
  }
  for (const auto& d : domains) {
    LeaseOutcome& o = out[d];
    try {
      pqxx::nontransaction tx(conn);
      for (const auto& r : tx.exec_params(
               "SELECT p FROM intentlog.lease_acquire($1, $2, $3, make_interval(secs => $4::int8 / 1000.0)) AS p",
               worker, group, d, ttl_ms)) {
        o.partitions.push_back(r[0].as<int>());
      }
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      o.error = e.what();
    }
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

void Leases::acquire(const std::string& group, const std::vector<GroupDomain*>& gds) {
  if (ctx_.stopping) return;
  std::vector<std::pair<std::string, std::uint64_t>> asked;  // (domain, generation)
  std::vector<std::string> domains;
  for (GroupDomain* gd : gds) {
    if (gd->lease_in_flight) continue;
    gd->lease_in_flight = true;
    asked.emplace_back(gd->domain, gd->generation);
    domains.push_back(gd->domain);
  }
  if (asked.empty()) return;
  const std::string worker = ctx_.cfg.worker_id;
  const auto ttl = ctx_.cfg.lease_ttl.count();
  ctx_.db.run(
      [group, domains, worker, ttl](Store& s) { return lease_acquire_all(s.conn(), worker, group, domains, ttl); },
      [this, group, asked](std::map<std::string, LeaseOutcome> outcomes) {
        for (const auto& [domain, gen] : asked) finish({group, domain}, gen, outcomes[domain]);
      },
      [this, group, asked](const std::string& error) {
        for (const auto& [domain, gen] : asked) finish({group, domain}, gen, LeaseOutcome{{}, error});
      });
}

void Leases::finish(const GroupDomainKey& key, std::uint64_t generation, const LeaseOutcome& outcome) {
  GroupDomain* gd = ctx_.find_group(key.first, key.second);
  if (!gd) {
    if (outcome.error) return;
    // Retired while the call ran: the release may have run first, so undo
    // the renewal rather than sit on the partitions until they expire.
    const std::string worker = ctx_.cfg.worker_id;
    ctx_.db.run(
        [key, worker](Store& s) {
          lease_release(s.conn(), worker, key.first, key.second, nullptr);
          return true;
        },
        [](bool) {}, [](const std::string&) {});
    return;
  }
  if (gd->generation != generation) return;
  gd->lease_in_flight = false;
  if (outcome.error) {
    spdlog::warn("event=lease_failed group={} domain={} error={}", q(key.first), q(key.second), q(*outcome.error));
    return;
  }
  gd->lease_ok_at = Clock::now();
  on_held_(*gd, outcome.partitions);
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
