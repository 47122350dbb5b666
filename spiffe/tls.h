// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <openssl/ssl.h>

#include "authorize.h"
#include "id.h"
#include "identity.h"
#include "svid.h"

namespace spiffe
{

// Why a peer's certificate chain was not accepted; stable short names for metric labels.
enum class PeerVerdict {
    Ok,
    NoCertificate, // the peer sent none
    Untrusted,     // no bundle for its trust domain, unknown CA, other path validation
    Expired,       // expired or not yet valid
    InvalidSvid,   // leaf rules: URI SAN, CA, key usage, malformed
    Unauthorized,  // a valid SVID, refused by the authorizer or by `expected`
};
// "ok", "no_certificate", "untrusted", "expired", "invalid_svid", "unauthorized"
const char *peerVerdictName(PeerVerdict v);
// The verdict for an SVID that validateSvid rejected.
PeerVerdict peerVerdictOf(SvidErrorKind kind);

// An SSL_CTX for one identity snapshot: this node's SVID, the bundle set and
// the authorizer. Immutable; the daemon makes a new one when the SVID or the
// bundles rotate, and sessions in progress keep theirs alive (shared_ptr).
// TLS 1.2 or 1.3 (1.3 preferred), mutual authentication with X.509-SVIDs
// validated by validateSvid instead of OpenSSL's chain verification, no
// hostname checks, no session resumption (every handshake validates afresh).
class TlsContext
{
public:
    static std::variant<std::shared_ptr<const TlsContext>, std::string>
    create(std::shared_ptr<const Svid> svid, std::shared_ptr<const BundleSet> bundles,
           Authorizer authorizer);

    ~TlsContext();
    TlsContext(const TlsContext &) = delete;
    TlsContext &operator=(const TlsContext &) = delete;

    SSL_CTX *native() const { return ctx_.get(); }
    const Svid &svid() const { return *svid_; }
    const BundleSet &bundles() const { return *bundles_; }
    const Authorizer &authorizer() const { return authorizer_; }

private:
    struct CtxFree {
        void operator()(SSL_CTX *ctx) const { SSL_CTX_free(ctx); }
    };

    TlsContext() = default;

    std::unique_ptr<SSL_CTX, CtxFree> ctx_;
    std::shared_ptr<const Svid> svid_;
    std::shared_ptr<const BundleSet> bundles_;
    Authorizer authorizer_;
};

// One TLS connection over a connected non-blocking socket (not owned: the
// caller closes the fd, after destroying the session). The socket is written
// with send(MSG_NOSIGNAL), so a peer that went away never raises SIGPIPE.
// Not movable: OpenSSL holds a pointer to it.
//
// On TLS 1.3 the client's handshake() returns Done as soon as it has sent its
// certificate, before the server has checked it: a client the server refuses
// sees Failed from its first read() (the error names the server's alert).
class TlsSession
{
public:
    enum class Status { Done, WantRead, WantWrite, Closed, Failed };

    // expected: when set, the peer must also satisfy this (e.g. the exact ID
    // configured for an outbound peer), on top of the context's authorizer.
    TlsSession(std::shared_ptr<const TlsContext> context, int fd, bool server,
               std::optional<Authorizer> expected = std::nullopt);
    ~TlsSession();
    TlsSession(const TlsSession &) = delete;
    TlsSession &operator=(const TlsSession &) = delete;

    // Call until Done or Failed; WantRead/WantWrite say which event to wait for.
    Status handshake();
    // After Done: appends every decrypted byte available now. Done when it
    // appended something and the socket is drained, WantRead when there was
    // nothing, WantWrite when TLS must write first; Closed on close_notify or
    // EOF, Failed on error (bytes that arrived before either are appended too).
    // At most about `limit` bytes are appended per call (a fast peer cannot
    // make one call grow without bound); pending() then says whether
    // OpenSSL still holds decrypted bytes that epoll will not report.
    Status read(std::vector<std::uint8_t> &out, std::size_t limit = SIZE_MAX);
    bool pending() const;
    // After Done: writes what the socket takes; `written` counts the bytes
    // consumed. WantWrite when the socket is full: call again, once writable,
    // with data.subspan(written) (same bytes, may be longer; the buffer may move).
    Status write(std::span<const std::uint8_t> data, std::size_t &written);
    // Best-effort close_notify; never blocks.
    void shutdown();

    // After Done: the peer's SPIFFE ID.
    const std::optional<SpiffeId> &peerId() const { return peerId_; }
    // After Failed: why the peer's certificate was refused (Ok when the
    // failure had another cause).
    PeerVerdict verdict() const { return verdict_; }
    // After Failed: one line, e.g. "peer spiffe://other.td/x: there is no
    // X.509 bundle for trust domain other.td ..." or the TLS error.
    const std::string &error() const { return error_; }
    // After Done: judges the peer's certificate chain again, as the
    // handshake did, against `context`'s bundles and authorizer (and the
    // session's expected ID), now: Ok, or why the peer would be refused
    // today (a CA removed from the bundle, an authorizer that changed).
    PeerVerdict rejudge(const TlsContext &context, std::string *why = nullptr) const;
    // After Done: the peer leaf's NotAfter.
    std::chrono::system_clock::time_point peerNotAfter() const { return peerNotAfter_; }

    bool server() const { return server_; }
    const TlsContext &context() const { return *context_; }
    // "TLSv1.3" or "TLSv1.2" after Done.
    const char *protocol() const;
    SSL *native() const { return ssl_.get(); }
    // Keying material exported from the finished handshake (RFC 5705, RFC
    // 8446 section 7.5), bound to this session: the tunnel derives its keys
    // from it. False before the handshake is done or after a failure.
    bool exportKeyingMaterial(std::string_view label, std::span<const std::uint8_t> context,
                              std::span<std::uint8_t> out) const;

private:
    friend class TlsContext;
    struct Native; // OpenSSL callbacks and the socket BIO
    struct SslFree {
        void operator()(SSL *ssl) const { SSL_free(ssl); }
    };

    bool verifyPeer(X509_STORE_CTX *store);
    bool refuse(X509_STORE_CTX *store, PeerVerdict verdict, int x509Error, std::string message);
    Status fail(PeerVerdict verdict, std::string message);
    Status failTls(const char *operation, int sslError);

    std::shared_ptr<const TlsContext> context_;
    std::optional<Authorizer> expected_;
    std::unique_ptr<SSL, SslFree> ssl_;
    int fd_;
    bool server_;
    bool failed_ = false;
    bool closed_ = false;
    int socketErrno_ = 0; // the last send/recv error, for SSL_ERROR_SYSCALL
    bool socketEof_ = false;
    std::optional<SpiffeId> peerId_;
    Certificates peerChain_; // leaf first, as accepted
    struct Judgement {
        PeerVerdict verdict = PeerVerdict::Ok;
        bool invalidSvid = false; // validateSvid said no (svidError says how)
        SvidErrorKind svidError{};
        std::string message;
        std::optional<SpiffeId> id;
    };
    Judgement judge(X509 *leaf, std::span<X509 *const> intermediates, const TlsContext &context,
                    std::chrono::system_clock::time_point at) const;
    PeerVerdict verdict_ = PeerVerdict::Ok;
    std::string error_;
    std::chrono::system_clock::time_point peerNotAfter_{};
};

} // namespace spiffe
