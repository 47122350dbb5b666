// SPDX-License-Identifier: GPL-2.0-or-later
#include "tls.h"

#include "asn1_time.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace spiffe
{

namespace
{

// Frees the stack only: the certificates in it are borrowed.
struct StackFree {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;

// Bytes asked of SSL_read_ex per call: one full TLS record.
constexpr std::size_t readChunk = 16384;

// Drains the calling thread's OpenSSL error queue into one line, so that one
// connection's failure never shows up in the next TLS call of another.
std::string takeErrors(bool *peerSentNoCertificate = nullptr)
{
    std::string text;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        if (peerSentNoCertificate != nullptr && ERR_GET_LIB(code) == ERR_LIB_SSL &&
            ERR_GET_REASON(code) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
            *peerSentNoCertificate = true;
        const char *reason = ERR_reason_error_string(code);
        std::string one = reason ? reason : "error " + std::to_string(code);
        if (text.find(one) == std::string::npos)
            text += (text.empty() ? "" : "; ") + one;
    }
    return text;
}

bool takeUnexpectedEof()
{
    unsigned long code = ERR_peek_error();
    bool eof = ERR_GET_LIB(code) == ERR_LIB_SSL &&
               ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
    if (eof)
        ERR_clear_error();
    return eof;
}

// The X.509 verification error reported to OpenSSL, which picks the alert sent to the peer.
int x509ErrorOf(SvidErrorKind kind)
{
    switch (kind) {
    case SvidErrorKind::Expired:
        return X509_V_ERR_CERT_HAS_EXPIRED;
    case SvidErrorKind::NotYetValid:
        return X509_V_ERR_CERT_NOT_YET_VALID;
    case SvidErrorKind::NoBundle:
    case SvidErrorKind::UnknownCa:
        return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    case SvidErrorKind::PathValidation:
        return X509_V_ERR_CERT_UNTRUSTED;
    case SvidErrorKind::Malformed:
    case SvidErrorKind::UriSan:
    case SvidErrorKind::SpiffeId:
    case SvidErrorKind::NotLeaf:
    case SvidErrorKind::KeyUsage:
        break;
    }
    return X509_V_ERR_CERT_REJECTED;
}

int sessionIndex()
{
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

const char *peerVerdictName(PeerVerdict v)
{
    switch (v) {
    case PeerVerdict::Ok:
        return "ok";
    case PeerVerdict::NoCertificate:
        return "no_certificate";
    case PeerVerdict::Untrusted:
        return "untrusted";
    case PeerVerdict::Expired:
        return "expired";
    case PeerVerdict::InvalidSvid:
        return "invalid_svid";
    case PeerVerdict::Unauthorized:
        return "unauthorized";
    }
    return "unknown";
}

PeerVerdict peerVerdictOf(SvidErrorKind kind)
{
    switch (kind) {
    case SvidErrorKind::Malformed:
    case SvidErrorKind::UriSan:
    case SvidErrorKind::SpiffeId:
    case SvidErrorKind::NotLeaf:
    case SvidErrorKind::KeyUsage:
        return PeerVerdict::InvalidSvid;
    case SvidErrorKind::Expired:
    case SvidErrorKind::NotYetValid:
        return PeerVerdict::Expired;
    case SvidErrorKind::NoBundle:
    case SvidErrorKind::UnknownCa:
    case SvidErrorKind::PathValidation:
        return PeerVerdict::Untrusted;
    }
    return PeerVerdict::Untrusted;
}

// The OpenSSL side of a session: the certificate verification callback and a
// socket BIO that sends with MSG_NOSIGNAL (OpenSSL's own uses write(), which
// raises SIGPIPE when the peer has gone).
struct TlsSession::Native {
    static int verify(X509_STORE_CTX *store, void *)
    {
        auto *ssl = static_cast<SSL *>(
            X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
        auto *session =
            ssl ? static_cast<TlsSession *>(SSL_get_ex_data(ssl, sessionIndex())) : nullptr;
        if (session == nullptr) {
            // An SSL made from native() without a TlsSession: fail closed.
            X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
            return 0;
        }
        return session->verifyPeer(store) ? 1 : 0;
    }

    static int write(BIO *bio, const char *data, int len)
    {
        auto *session = static_cast<TlsSession *>(BIO_get_data(bio));
        BIO_clear_retry_flags(bio);
        if (len <= 0)
            return 0;
        for (;;) {
            ssize_t n = ::send(session->fd_, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
            if (n >= 0)
                return static_cast<int>(n);
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                BIO_set_retry_write(bio);
            else
                session->socketErrno_ = errno;
            return -1;
        }
    }

    static int read(BIO *bio, char *data, int len)
    {
        auto *session = static_cast<TlsSession *>(BIO_get_data(bio));
        BIO_clear_retry_flags(bio);
        if (len <= 0)
            return 0;
        for (;;) {
            ssize_t n = ::recv(session->fd_, data, static_cast<std::size_t>(len), 0);
            if (n >= 0) {
                session->socketEof_ = n == 0;
                return static_cast<int>(n);
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                BIO_set_retry_read(bio);
            else
                session->socketErrno_ = errno;
            return -1;
        }
    }

    static long ctrl(BIO *bio, int cmd, long, void *)
    {
        switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1; // nothing is buffered here
        case BIO_CTRL_EOF:
            // Tells OpenSSL that a read of 0 was the end of the stream, not an error.
            return static_cast<TlsSession *>(BIO_get_data(bio))->socketEof_ ? 1 : 0;
        default:
            return 0;
        }
    }

    static int create(BIO *bio)
    {
        BIO_set_init(bio, 1);
        return 1;
    }

    static const BIO_METHOD *socketMethod()
    {
        static BIO_METHOD *method = [] {
            BIO_METHOD *m = BIO_meth_new(
                BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "meshd socket");
            if (m == nullptr)
                return m;
            if (BIO_meth_set_write(m, write) != 1 || BIO_meth_set_read(m, read) != 1 ||
                BIO_meth_set_ctrl(m, ctrl) != 1 || BIO_meth_set_create(m, create) != 1) {
                BIO_meth_free(m);
                return static_cast<BIO_METHOD *>(nullptr);
            }
            return m;
        }();
        return method;
    }
};

TlsContext::~TlsContext() = default;

std::variant<std::shared_ptr<const TlsContext>, std::string>
TlsContext::create(std::shared_ptr<const Svid> svid, std::shared_ptr<const BundleSet> bundles,
                   Authorizer authorizer)
{
    if (!svid || svid->chain.empty() || !svid->chain.front() || !svid->key)
        return std::string("the SVID has no certificate or no private key");
    if (!bundles)
        return std::string("no bundle set");
    // The leaf rules are the identity layer's to check (checkLeaf), when the SVID arrives.
    X509 *leaf = svid->chain.front().get();
    if (X509_check_private_key(leaf, svid->key.get()) != 1) {
        ERR_clear_error();
        return "the private key does not match the SVID " + svid->id.str();
    }

    std::shared_ptr<TlsContext> context(new TlsContext);
    context->ctx_.reset(SSL_CTX_new(TLS_method()));
    SSL_CTX *ctx = context->ctx_.get();
    if (ctx == nullptr)
        return "cannot create an SSL_CTX: " + takeErrors();

    StackPtr intermediates(sk_X509_new_null());
    if (!intermediates)
        return std::string("out of memory");
    for (std::size_t i = 1; i < svid->chain.size(); i++)
        if (sk_X509_push(intermediates.get(), svid->chain[i].get()) <= 0)
            return std::string("out of memory");
    // Copies the chain (up-referencing the certificates) and checks the key against the leaf.
    if (SSL_CTX_use_cert_and_key(ctx, leaf, svid->key.get(), intermediates.get(), 1) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return "cannot use the SVID " + svid->id.str() + ": " + takeErrors();

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, 0) != 1 ||
        // TLS 1.2: forward secrecy and AEAD only (TLS 1.3 suites are all of that).
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL") != 1)
        return "cannot configure TLS: " + takeErrors();
    // Every handshake is a full one, so every peer SVID is validated when it connects.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
        return "cannot disable session tickets: " + takeErrors();
    // The chain sent is the SVID's own, never one built from a store.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_NO_AUTO_CHAIN | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, TlsSession::Native::verify, nullptr);

    context->svid_ = std::move(svid);
    context->bundles_ = std::move(bundles);
    context->authorizer_ = std::move(authorizer);
    ERR_clear_error();
    return std::shared_ptr<const TlsContext>(std::move(context));
}

TlsSession::TlsSession(std::shared_ptr<const TlsContext> context, int fd, bool server,
                       std::optional<Authorizer> expected)
    : context_(std::move(context)), expected_(std::move(expected)), fd_(fd), server_(server)
{
    const BIO_METHOD *method = Native::socketMethod();
    if (!context_ || method == nullptr || sessionIndex() < 0) {
        fail(PeerVerdict::Ok, "cannot set up TLS: " + takeErrors());
        return;
    }
    ssl_.reset(SSL_new(context_->native()));
    BIO *bio = ssl_ ? BIO_new(method) : nullptr;
    if (bio == nullptr || SSL_set_ex_data(ssl_.get(), sessionIndex(), this) != 1) {
        BIO_free(bio);
        fail(PeerVerdict::Ok, "cannot set up TLS: out of memory");
        return;
    }
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_.get(), bio, bio); // one reference, owned by the SSL
    if (server_)
        SSL_set_accept_state(ssl_.get());
    else
        SSL_set_connect_state(ssl_.get());
}

TlsSession::~TlsSession() = default;

TlsSession::Status TlsSession::fail(PeerVerdict verdict, std::string message)
{
    ERR_clear_error();
    failed_ = true;
    if (verdict_ == PeerVerdict::Ok) {
        verdict_ = verdict;
        error_ = std::move(message);
    }
    return Status::Failed;
}

TlsSession::Status TlsSession::failTls(const char *operation, int sslError)
{
    std::string what;
    if (sslError == SSL_ERROR_SYSCALL) {
        what = socketErrno_ != 0 ? std::strerror(socketErrno_) : "the peer closed the connection";
        std::string more = takeErrors();
        if (!more.empty())
            what += " (" + more + ")";
    } else {
        bool noCertificate = false;
        what = takeErrors(&noCertificate);
        if (noCertificate)
            return fail(PeerVerdict::NoCertificate, "the peer sent no certificate");
        if (what.empty())
            what = "SSL error " + std::to_string(sslError);
    }
    return fail(PeerVerdict::Ok, std::string("TLS ") + operation + " failed: " + what);
}

bool TlsSession::refuse(X509_STORE_CTX *store, PeerVerdict verdict, int x509Error,
                        std::string message)
{
    X509_STORE_CTX_set_error(store, x509Error);
    verdict_ = verdict;
    error_ = std::move(message);
    return false;
}

bool TlsSession::verifyPeer(X509_STORE_CTX *store)
{
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    if (leaf == nullptr)
        return refuse(store, PeerVerdict::NoCertificate, X509_V_ERR_APPLICATION_VERIFICATION,
                      "the peer sent no certificate");
    // OpenSSL passes the peer's whole chain as untrusted, the leaf included.
    std::vector<X509 *> intermediates;
    if (STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(store))
        for (int i = 0; i < sk_X509_num(untrusted); i++)
            if (X509 *cert = sk_X509_value(untrusted, i); cert != leaf)
                intermediates.push_back(cert);

    Judgement j = judge(leaf, intermediates, *context_, std::chrono::system_clock::now());
    if (j.verdict != PeerVerdict::Ok)
        return refuse(store, j.verdict,
                      j.invalidSvid ? x509ErrorOf(j.svidError)
                                    : X509_V_ERR_APPLICATION_VERIFICATION,
                      j.message);

    peerNotAfter_ = asn1TimePoint(X509_get0_notAfter(leaf));
    peerId_ = std::move(*j.id);
    // Kept to judge the peer again when the bundles or the authorizer change.
    peerChain_.clear();
    X509_up_ref(leaf);
    peerChain_.emplace_back(leaf);
    for (X509 *cert : intermediates) {
        X509_up_ref(cert);
        peerChain_.emplace_back(cert);
    }
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return true;
}

TlsSession::Judgement TlsSession::judge(X509 *leaf, std::span<X509 *const> intermediates,
                                        const TlsContext &context,
                                        std::chrono::system_clock::time_point at) const
{
    Judgement j;
    auto result = validateSvid(leaf, intermediates, context.bundles(), at);
    if (auto *err = std::get_if<SvidError>(&result)) {
        j.verdict = peerVerdictOf(err->kind);
        j.invalidSvid = true;
        j.svidError = err->kind;
        // The ID in a certificate that did not validate is only a claim.
        std::string who = "a certificate";
        if (j.verdict != PeerVerdict::InvalidSvid) {
            auto named = checkLeaf(leaf);
            if (auto *id = std::get_if<SpiffeId>(&named))
                who = "a certificate claiming " + id->str();
        }
        ERR_clear_error();
        j.message = who + ": " + err->message;
        return j;
    }
    auto &id = std::get<SpiffeId>(result);
    if (auto refused = context.authorizer().authorize(id)) {
        j.verdict = PeerVerdict::Unauthorized;
        j.message = "peer " + id.str() + " refused by the authorizer (" +
                    context.authorizer().describe() + "): " + *refused;
        return j;
    }
    if (expected_)
        if (auto refused = expected_->authorize(id)) {
            j.verdict = PeerVerdict::Unauthorized;
            j.message = "peer " + id.str() + " is not the expected peer: " + *refused;
            return j;
        }
    j.id = std::move(id);
    return j;
}

PeerVerdict TlsSession::rejudge(const TlsContext &context, std::string *why) const
{
    if (peerChain_.empty()) {
        if (why)
            *why = "no peer certificate was accepted on this session";
        return PeerVerdict::NoCertificate;
    }
    std::vector<X509 *> intermediates;
    for (std::size_t i = 1; i < peerChain_.size(); ++i)
        intermediates.push_back(peerChain_[i].get());
    Judgement j =
        judge(peerChain_[0].get(), intermediates, context, std::chrono::system_clock::now());
    if (why)
        *why = j.message;
    return j.verdict;
}

TlsSession::Status TlsSession::handshake()
{
    if (failed_ || !ssl_)
        return Status::Failed;
    ERR_clear_error();
    socketErrno_ = 0;
    int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
        // Our callback is the only way to Done; a peer it never saw is no peer.
        if (!peerId_)
            return fail(PeerVerdict::NoCertificate, "the peer's certificate was not verified");
        return Status::Done;
    }
    int err = SSL_get_error(ssl_.get(), ret);
    if (err == SSL_ERROR_WANT_READ)
        return Status::WantRead;
    if (err == SSL_ERROR_WANT_WRITE)
        return Status::WantWrite;
    if (verdict_ != PeerVerdict::Ok)
        return fail(verdict_, error_); // refused by verifyPeer, which said why
    return failTls("handshake", err);
}

bool TlsSession::exportKeyingMaterial(std::string_view label,
                                      std::span<const std::uint8_t> context,
                                      std::span<std::uint8_t> out) const
{
    if (!ssl_ || failed_ || !SSL_is_init_finished(ssl_.get()))
        return false;
    std::string l(label); // OpenSSL wants it NUL-terminated
    return SSL_export_keying_material(ssl_.get(), out.data(), out.size(), l.data(), l.size(),
                                      context.data(), context.size(), 1) == 1;
}

bool TlsSession::pending() const
{
    return ssl_ && !failed_ && !closed_ && SSL_has_pending(ssl_.get()) == 1;
}

TlsSession::Status TlsSession::read(std::vector<std::uint8_t> &out, std::size_t limit)
{
    if (failed_ || !ssl_)
        return Status::Failed;
    if (closed_)
        return Status::Closed;
    bool appended = false;
    const std::size_t before = out.size();
    for (;;) {
        if (appended && out.size() - before >= limit)
            return Status::Done;
        std::size_t start = out.size();
        out.resize(start + readChunk);
        std::size_t n = 0;
        ERR_clear_error();
        socketErrno_ = 0;
        int ret = SSL_read_ex(ssl_.get(), out.data() + start, readChunk, &n);
        out.resize(start + n);
        if (ret == 1) {
            appended = true;
            continue;
        }
        int err = SSL_get_error(ssl_.get(), ret);
        switch (err) {
        case SSL_ERROR_WANT_READ:
            return appended ? Status::Done : Status::WantRead;
        case SSL_ERROR_WANT_WRITE:
            return Status::WantWrite;
        case SSL_ERROR_ZERO_RETURN:
            closed_ = true;
            return Status::Closed;
        case SSL_ERROR_SSL:
            // EOF without close_notify: closed all the same (the peer channel frames its messages).
            if (takeUnexpectedEof()) {
                closed_ = true;
                return Status::Closed;
            }
            break;
        case SSL_ERROR_SYSCALL:
            if (socketErrno_ == 0 && ERR_peek_error() == 0) {
                closed_ = true;
                return Status::Closed;
            }
            break;
        default:
            break;
        }
        return failTls("read", err);
    }
}

TlsSession::Status TlsSession::write(std::span<const std::uint8_t> data, std::size_t &written)
{
    written = 0;
    if (failed_ || !ssl_)
        return Status::Failed;
    while (written < data.size()) {
        std::size_t n = 0;
        ERR_clear_error();
        socketErrno_ = 0;
        int ret = SSL_write_ex(ssl_.get(), data.data() + written, data.size() - written, &n);
        if (ret == 1) {
            written += n;
            continue;
        }
        int err = SSL_get_error(ssl_.get(), ret);
        if (err == SSL_ERROR_WANT_WRITE)
            return Status::WantWrite;
        if (err == SSL_ERROR_WANT_READ)
            return Status::WantRead;
        if (err == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            closed_ = true;
            return Status::Closed;
        }
        return failTls("write", err);
    }
    return Status::Done;
}

void TlsSession::shutdown()
{
    if (failed_ || !ssl_ || !SSL_is_init_finished(ssl_.get()))
        return;
    ERR_clear_error();
    SSL_shutdown(
        ssl_.get()); // sends close_notify if the socket takes it; never waits for the peer's
    ERR_clear_error();
}

const char *TlsSession::protocol() const
{
    return ssl_ ? SSL_get_version(ssl_.get()) : "none";
}

} // namespace spiffe
