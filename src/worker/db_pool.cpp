#include "worker/db_pool.h"

namespace intentlog {

DbPool::DbPool(asio::io_context& io, std::string conninfo, int threads) : io_(io), conninfo_(std::move(conninfo)) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { loop(i); });
}

DbPool::~DbPool() { stop(); }

void DbPool::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

std::size_t DbPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void DbPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void DbPool::loop(int) {
  Store store(conninfo_);
  // Connected before the first job, which then does not wait for it (a
  // failure here is the first job's to report).
  try {
    store.conn();
  } catch (const std::exception&) {
    store.reset();
  }
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job(store);
  }
}

}  // namespace intentlog
