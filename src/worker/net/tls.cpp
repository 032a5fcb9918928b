#include "worker/net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

#include "worker/log_fields.h"

namespace intentlog {
namespace {

std::string openssl_reason(const asio::error_code& ec) {
  std::string r = ec.message();
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    r = buf;
  }
  ERR_clear_error();
  return r;
}

void check_validity(SSL_CTX* ctx, const std::string& file) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return;
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    spdlog::warn("event=tls_certificate_expired file={} (clients will refuse it)", q(file));
  } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    spdlog::warn("event=tls_certificate_not_yet_valid file={} (clients will refuse it)", q(file));
  }
}

}  // namespace

std::unique_ptr<asio::ssl::context> make_tls_context(const WorkerConfig& cfg) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot require TLS 1.2 or later");
  }
  // No TLS 1.3 session tickets: the worker does not resume sessions, and a
  // ticket arriving after the handshake is a record with no data for a
  // client that waits for the first frame.
  SSL_CTX_set_num_tickets(native, 0);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  asio::error_code ec;
  ctx->use_certificate_chain_file(cfg.tls_cert, ec);
  if (ec) throw std::runtime_error("cannot use TLS certificate " + cfg.tls_cert + ": " + openssl_reason(ec));
  ctx->use_private_key_file(cfg.tls_key, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot use TLS key " + cfg.tls_key + ": " + openssl_reason(ec));
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS key " + cfg.tls_key + " does not match certificate " + cfg.tls_cert);
  }
  check_validity(native, cfg.tls_cert);
  if (!cfg.tls_client_ca.empty()) {
    ctx->load_verify_file(cfg.tls_client_ca, ec);
    if (ec) throw std::runtime_error("cannot use TLS client CA " + cfg.tls_client_ca + ": " + openssl_reason(ec));
    // Tells clients which CAs to pick a certificate for.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.tls_client_ca.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);
    }
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace intentlog
