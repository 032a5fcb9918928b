// DbPool: a few threads, each with its own Store, running SQL jobs off the
// event loop. libpq calls block; the sockets must not. A job's result goes
// back to the event loop with asio::post, so all worker state is touched by
// one thread only. A failed job drops its connection (the next job
// reconnects) and reports the error; callers retry on their next tick.
#pragma once

#include <asio.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "worker/store.h"

namespace intentlog {

class DbPool {
 public:
  DbPool(asio::io_context& io, std::string conninfo, int threads);
  ~DbPool();
  DbPool(const DbPool&) = delete;
  DbPool& operator=(const DbPool&) = delete;

  // Runs work(store) on a pool thread, then done(result) or failed(message)
  // on the event loop.
  template <class Work, class Done, class Failed>
  void run(Work work, Done done, Failed failed) {
    submit([this, work = std::move(work), done = std::move(done), failed = std::move(failed)](Store& store) mutable {
      try {
        auto result = work(store);
        asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
      } catch (const std::exception& e) {
        store.reset();
        asio::post(io_, [failed = std::move(failed), msg = std::string(e.what())]() mutable { failed(msg); });
      }
    });
  }

  // Stops after the queued jobs ran; joins the threads.
  void stop();
  std::size_t queued() const;

 private:
  using Job = std::function<void(Store&)>;
  void submit(Job job);
  void loop(int index);

  asio::io_context& io_;
  std::string conninfo_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace intentlog
