// TLS for TCP listeners (OpenSSL through Asio's SSL support): the server
// context built from --tls-cert, --tls-key and, for client certificates
// (mTLS), --tls-client-ca. TLS 1.2 is the minimum.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <memory>

#include "worker/worker_config.h"

namespace intentlog {

// Throws std::runtime_error naming the file and OpenSSL's reason when a
// file cannot be read, the key does not match the certificate, ... Warns
// (does not refuse) when the certificate is expired or not yet valid:
// clients will refuse it, and they say so.
std::unique_ptr<asio::ssl::context> make_tls_context(const WorkerConfig& cfg);

}  // namespace intentlog
