// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include <array>

#include <cstring>
#include <ctime>

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cert_fixture.h"
#include "tls.h"

using namespace spiffe;
using namespace fixture;
using Status = TlsSession::Status;

namespace
{

// TLS validates at the real time, so these certificates are minted around it.
struct LivePki {
    std::time_t t = std::time(nullptr);
    Issued root = issue(caSpec("td.example", "td root", t));
    Issued intermediate = issue(caSpec("td.example", "td intermediate", t), &root);
    Issued otherRoot = issue(caSpec("other.example", "other root", t));
    std::shared_ptr<BundleSet> bundles = std::make_shared<BundleSet>(); // both trust domains
    std::shared_ptr<BundleSet> tdOnly = std::make_shared<BundleSet>();

    LivePki()
    {
        REQUIRE_FALSE(addBundle(*bundles, "td.example", der(root)));
        REQUIRE_FALSE(addBundle(*bundles, "other.example", der(otherRoot)));
        REQUIRE_FALSE(addBundle(*tdOnly, "td.example", der(root)));
    }

    Issued leaf(const std::string &id, const Issued &issuer) const
    {
        return issue(leafSpec("URI:" + id, t), &issuer);
    }
};

X509Ptr shared(X509 *cert)
{
    REQUIRE(X509_up_ref(cert) == 1);
    return X509Ptr(cert);
}

// An SVID of `leaf` presenting `intermediates` after it.
std::shared_ptr<const Svid> svidOf(const Issued &leaf,
                                   std::initializer_list<const Issued *> intermediates = {})
{
    auto svid = std::make_shared<Svid>();
    svid->chain.push_back(shared(leaf.cert.get()));
    for (const Issued *c : intermediates)
        svid->chain.push_back(shared(c->cert.get()));
    REQUIRE(EVP_PKEY_up_ref(leaf.key.get()) == 1);
    svid->key.reset(leaf.key.get());
    // Some tests present SVIDs that break the leaf rules on purpose.
    auto id = checkLeaf(leaf.cert.get());
    if (auto *valid = std::get_if<SpiffeId>(&id))
        svid->id = *valid;
    ERR_clear_error();
    return svid;
}

std::shared_ptr<const TlsContext> contextOf(std::shared_ptr<const Svid> svid,
                                            std::shared_ptr<const BundleSet> bundles,
                                            Authorizer authorizer = authorizeAny())
{
    auto created = TlsContext::create(std::move(svid), std::move(bundles), std::move(authorizer));
    if (auto *err = std::get_if<std::string>(&created))
        FAIL("TlsContext::create: " << *err);
    return std::get<std::shared_ptr<const TlsContext>>(created);
}

SpiffeId idOf(const std::string &text)
{
    auto parsed = parseId(text);
    REQUIRE(std::holds_alternative<SpiffeId>(parsed));
    return std::get<SpiffeId>(parsed);
}

bool finished(Status s)
{
    return s == Status::Done || s == Status::Failed;
}

const char *statusName(Status s)
{
    switch (s) {
    case Status::Done:
        return "done";
    case Status::WantRead:
        return "want_read";
    case Status::WantWrite:
        return "want_write";
    case Status::Closed:
        return "closed";
    case Status::Failed:
        return "failed";
    }
    return "?";
}

// A client and a server session over a non-blocking socketpair, their
// handshakes driven in turn until both finished (or neither can move).
struct Link {
    int fds[2] = {-1, -1};
    Link()
    {
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    }
    ~Link()
    {
        for (int fd : fds)
            if (fd >= 0)
                close(fd);
    }
};

struct Run {
    Link link; // first: outlives the sessions
    TlsSession client;
    TlsSession server;
    Status clientStatus = Status::WantWrite;
    Status serverStatus = Status::WantRead;

    Run(std::shared_ptr<const TlsContext> clientContext,
        std::shared_ptr<const TlsContext> serverContext,
        std::optional<Authorizer> clientExpected = std::nullopt)
        : client(std::move(clientContext), link.fds[0], false, std::move(clientExpected)),
          server(std::move(serverContext), link.fds[1], true)
    {
    }

    void handshake()
    {
        for (int turn = 0; turn < 100 && !(finished(clientStatus) && finished(serverStatus));
             turn++) {
            if (!finished(clientStatus))
                clientStatus = client.handshake();
            if (!finished(serverStatus))
                serverStatus = server.handshake();
        }
        INFO("client " << statusName(clientStatus) << ": " << client.error());
        INFO("server " << statusName(serverStatus) << ": " << server.error());
        CHECK(finished(clientStatus));
        CHECK(finished(serverStatus));
        // A failure leaves nothing in the error queue for the next connection.
        CHECK(ERR_peek_error() == 0);
    }
};

// The side that did not refuse fails as well: in its handshake, or, as a TLS
// 1.3 client that was Done before the server saw its certificate, at its first
// read (the server's alert). Returns its error.
std::string otherSideFails(TlsSession &session, Status handshakeStatus)
{
    if (handshakeStatus == Status::Done) {
        std::vector<std::uint8_t> in;
        Status s = Status::WantRead;
        for (int i = 0; i < 10 && s == Status::WantRead; i++)
            s = session.read(in);
        CHECK(s == Status::Failed);
        CHECK(in.empty());
    } else {
        CHECK(handshakeStatus == Status::Failed);
    }
    CHECK(session.verdict() == PeerVerdict::Ok);
    CHECK(ERR_peek_error() == 0);
    return session.error();
}

// Moves `data` from one established session to the other, both non-blocking.
std::vector<std::uint8_t> transfer(TlsSession &from, TlsSession &to,
                                   const std::vector<std::uint8_t> &data)
{
    std::vector<std::uint8_t> received;
    std::size_t sent = 0;
    for (int turn = 0; turn < 100000 && received.size() < data.size(); turn++) {
        if (sent < data.size()) {
            std::size_t written = 0;
            Status s = from.write(std::span(data).subspan(sent), written);
            INFO(from.error());
            REQUIRE((s == Status::Done || s == Status::WantWrite));
            sent += written;
        }
        Status r = to.read(received);
        INFO(to.error());
        REQUIRE((r == Status::Done || r == Status::WantRead));
    }
    return received;
}

} // namespace

TEST_CASE("peer verdicts have stable names", "[spiffe][tls]")
{
    CHECK(std::string(peerVerdictName(PeerVerdict::Ok)) == "ok");
    CHECK(std::string(peerVerdictName(PeerVerdict::NoCertificate)) == "no_certificate");
    CHECK(std::string(peerVerdictName(PeerVerdict::Untrusted)) == "untrusted");
    CHECK(std::string(peerVerdictName(PeerVerdict::Expired)) == "expired");
    CHECK(std::string(peerVerdictName(PeerVerdict::InvalidSvid)) == "invalid_svid");
    CHECK(std::string(peerVerdictName(PeerVerdict::Unauthorized)) == "unauthorized");

    CHECK(peerVerdictOf(SvidErrorKind::Malformed) == PeerVerdict::InvalidSvid);
    CHECK(peerVerdictOf(SvidErrorKind::UriSan) == PeerVerdict::InvalidSvid);
    CHECK(peerVerdictOf(SvidErrorKind::SpiffeId) == PeerVerdict::InvalidSvid);
    CHECK(peerVerdictOf(SvidErrorKind::NotLeaf) == PeerVerdict::InvalidSvid);
    CHECK(peerVerdictOf(SvidErrorKind::KeyUsage) == PeerVerdict::InvalidSvid);
    CHECK(peerVerdictOf(SvidErrorKind::NoBundle) == PeerVerdict::Untrusted);
    CHECK(peerVerdictOf(SvidErrorKind::UnknownCa) == PeerVerdict::Untrusted);
    CHECK(peerVerdictOf(SvidErrorKind::PathValidation) == PeerVerdict::Untrusted);
    CHECK(peerVerdictOf(SvidErrorKind::Expired) == PeerVerdict::Expired);
    CHECK(peerVerdictOf(SvidErrorKind::NotYetValid) == PeerVerdict::Expired);
}

TEST_CASE("a TLS context needs a certificate with its own key", "[spiffe][tls]")
{
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);

    auto mismatched = std::make_shared<Svid>();
    mismatched->chain.push_back(shared(a.cert.get()));
    REQUIRE(EVP_PKEY_up_ref(b.key.get()) == 1);
    mismatched->key.reset(b.key.get());
    auto created = TlsContext::create(mismatched, pki.bundles, authorizeAny());
    REQUIRE(std::holds_alternative<std::string>(created));
    CHECK_THAT(std::get<std::string>(created), Catch::Contains("does not match"));

    auto empty = std::make_shared<Svid>();
    CHECK(std::holds_alternative<std::string>(
        TlsContext::create(empty, pki.bundles, authorizeAny())));
    CHECK(std::holds_alternative<std::string>(
        TlsContext::create(svidOf(a), nullptr, authorizeAny())));
    CHECK(ERR_peek_error() == 0);

    auto context = contextOf(svidOf(a), pki.bundles);
    CHECK(context->svid().id.str() == "spiffe://td.example/node/a");
    CHECK(SSL_CTX_get_min_proto_version(context->native()) == TLS1_2_VERSION);
    CHECK((SSL_CTX_get_verify_mode(context->native()) &
           (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT)) ==
          (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));
    CHECK((SSL_CTX_get_options(context->native()) & SSL_OP_NO_TICKET) != 0);
    CHECK(SSL_CTX_get_session_cache_mode(context->native()) == SSL_SESS_CACHE_OFF);
}

TEST_CASE("two nodes authenticate each other and exchange data", "[spiffe][tls]")
{
    LivePki pki;
    // The server's SVID comes from an intermediate: its whole chain must be presented.
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.intermediate);
    auto clientContext = contextOf(svidOf(a), pki.bundles, authorizeMemberOf("td.example"));
    auto serverContext =
        contextOf(svidOf(b, {&pki.intermediate}), pki.tdOnly, authorizeMemberOf("td.example"));

    std::string version = GENERATE(as<std::string>{}, "TLSv1.3", "TLSv1.2");
    CAPTURE(version);
    Run run(clientContext, serverContext, authorizeId(idOf("spiffe://td.example/node/b")));
    if (version == "TLSv1.2")
        REQUIRE(SSL_set_max_proto_version(run.client.native(), TLS1_2_VERSION) == 1);
    run.handshake();
    REQUIRE(run.clientStatus == Status::Done);
    REQUIRE(run.serverStatus == Status::Done);
    CHECK(std::string(run.client.protocol()) == version);
    CHECK(std::string(run.server.protocol()) == version);
    CHECK(SSL_session_reused(run.client.native()) == 0);

    REQUIRE(run.client.peerId());
    CHECK(run.client.peerId()->str() == "spiffe://td.example/node/b");
    REQUIRE(run.server.peerId());
    CHECK(run.server.peerId()->str() == "spiffe://td.example/node/a");
    CHECK(run.client.verdict() == PeerVerdict::Ok);
    CHECK(run.server.verdict() == PeerVerdict::Ok);
    CHECK(run.client.peerNotAfter() == std::chrono::system_clock::from_time_t(pki.t + hour));
    CHECK(run.server.peerNotAfter() == std::chrono::system_clock::from_time_t(pki.t + hour));

    std::vector<std::uint8_t> hello{'h', 'e', 'l', 'l', 'o'};
    CHECK(transfer(run.client, run.server, hello) == hello);
    // More than the socket buffers hold: partial writes and WantWrite on the way.
    std::vector<std::uint8_t> bulk(3 * 1024 * 1024);
    for (std::size_t i = 0; i < bulk.size(); i++)
        bulk[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
    CHECK(transfer(run.server, run.client, bulk) == bulk);

    // Nothing more to read yet.
    std::vector<std::uint8_t> in;
    CHECK(run.server.read(in) == Status::WantRead);

    run.client.shutdown();
    CHECK(run.server.read(in) == Status::Closed);
    CHECK(in.empty());
    CHECK(run.server.read(in) == Status::Closed);
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("both ends export the same keying material, bound to the session", "[spiffe][tls]")
{
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    auto ca = contextOf(svidOf(a), pki.bundles, authorizeMemberOf("td.example"));
    auto cb = contextOf(svidOf(b), pki.bundles, authorizeMemberOf("td.example"));
    const std::uint8_t context[] = {'e', 'p', 1};
    std::array<std::uint8_t, 32> c1{}, s1{}, other{}, label2{}, second{};

    Run run(ca, cb);
    CHECK_FALSE(run.client.exportKeyingMaterial("EXPORTER-test", context, c1)); // not yet
    run.handshake();
    REQUIRE(run.client.exportKeyingMaterial("EXPORTER-test", context, c1));
    REQUIRE(run.server.exportKeyingMaterial("EXPORTER-test", context, s1));
    CHECK(c1 == s1);
    CHECK(c1 != std::array<std::uint8_t, 32>{});
    const std::uint8_t otherContext[] = {'e', 'p', 2};
    REQUIRE(run.client.exportKeyingMaterial("EXPORTER-test", otherContext, other));
    CHECK(other != c1);
    REQUIRE(run.client.exportKeyingMaterial("EXPORTER-other", context, label2));
    CHECK(label2 != c1);

    Run again(ca, cb); // same identities, another session: other secrets
    again.handshake();
    REQUIRE(again.client.exportKeyingMaterial("EXPORTER-test", context, second));
    CHECK(second != c1);
}

TEST_CASE("a peer that closes without close_notify reads as closed", "[spiffe][tls]")
{
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    Run run(contextOf(svidOf(a), pki.bundles), contextOf(svidOf(b), pki.bundles));
    run.handshake();
    REQUIRE(run.clientStatus == Status::Done);
    REQUIRE(run.serverStatus == Status::Done);

    std::vector<std::uint8_t> last{'b', 'y', 'e'};
    std::size_t written = 0;
    REQUIRE(run.client.write(last, written) == Status::Done);
    CHECK(written == 3);
    ::shutdown(run.link.fds[0], SHUT_RDWR);
    std::vector<std::uint8_t> in;
    CHECK(run.server.read(in) == Status::Closed);
    CHECK(in == last);
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("writing to a peer that has gone fails without SIGPIPE", "[spiffe][tls]")
{
    // SIGPIPE is not ignored here: a write() to the closed socket would end the test run.
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    Run run(contextOf(svidOf(a), pki.bundles), contextOf(svidOf(b), pki.bundles));
    run.handshake();
    REQUIRE(run.clientStatus == Status::Done);
    close(run.link.fds[1]);
    run.link.fds[1] = -1;

    std::vector<std::uint8_t> data(1000, 'x');
    std::size_t written = 0;
    CHECK(run.client.write(data, written) == Status::Failed);
    CHECK_THAT(run.client.error(), Catch::Contains("Broken pipe"));
    CHECK(run.client.verdict() == PeerVerdict::Ok);
    CHECK(ERR_peek_error() == 0);
    // Failed stays failed.
    CHECK(run.client.write(data, written) == Status::Failed);
    std::vector<std::uint8_t> in;
    CHECK(run.client.read(in) == Status::Failed);
}

TEST_CASE("peers that are not trusted are refused with a verdict", "[spiffe][tls]")
{
    LivePki pki;
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    auto serverContext = contextOf(svidOf(b), pki.tdOnly);

    SECTION("a client from another trust domain, whose bundle the server lacks")
    {
        auto other = pki.leaf("spiffe://other.example/node/x", pki.otherRoot);
        Run run(contextOf(svidOf(other), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::Untrusted);
        CHECK_THAT(run.server.error(),
                   Catch::StartsWith("a certificate claiming spiffe://other.example/node/x: ") &&
                       Catch::Contains("no X.509 bundle for trust domain other.example"));
        CHECK_FALSE(run.server.peerId());
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("a client signed by an unknown CA of the same trust domain")
    {
        auto impostor = issue(caSpec("td.example", "td root", pki.t));
        auto forged = pki.leaf("spiffe://td.example/node/a", impostor);
        Run run(contextOf(svidOf(forged), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::Untrusted);
        CHECK_THAT(run.server.error(),
                   Catch::StartsWith("a certificate claiming spiffe://td.example/node/a: ") &&
                       Catch::Contains("does not lead to a CA"));
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("a client with an expired SVID")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/a", pki.t);
        spec.notBefore = pki.t - 2 * hour;
        spec.notAfter = pki.t - 60;
        auto expired = issue(spec, &pki.root);
        Run run(contextOf(svidOf(expired), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::Expired);
        CHECK_THAT(run.server.error(), Catch::Contains("expired at"));
        CHECK_THAT(otherSideFails(run.client, run.clientStatus), Catch::Contains("expired"));
    }
    SECTION("a client whose SVID is not valid yet")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/a", pki.t);
        spec.notBefore = pki.t + 600;
        spec.notAfter = pki.t + 2 * hour;
        auto early = issue(spec, &pki.root);
        Run run(contextOf(svidOf(early), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::Expired);
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("a client whose leaf is a CA")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/a", pki.t);
        spec.basicConstraints = "critical,CA:TRUE";
        auto ca = issue(spec, &pki.root);
        Run run(contextOf(svidOf(ca), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::InvalidSvid);
        CHECK_THAT(run.server.error(),
                   Catch::StartsWith("a certificate: ") && Catch::Contains("cA=true"));
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("a client whose leaf has two URI SANs")
    {
        auto twoUris =
            issue(leafSpec("URI:spiffe://td.example/node/a,URI:spiffe://td.example/node/z", pki.t),
                  &pki.root);
        Run run(contextOf(svidOf(twoUris), pki.bundles), serverContext);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::InvalidSvid);
        CHECK_THAT(run.server.error(), Catch::Contains("2 URI SANs"));
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("a server with an expired SVID, refused by the client")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/b", pki.t);
        spec.notBefore = pki.t - 2 * hour;
        spec.notAfter = pki.t - 60;
        auto expired = issue(spec, &pki.root);
        auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
        Run run(contextOf(svidOf(a), pki.bundles), contextOf(svidOf(expired), pki.tdOnly));
        run.handshake();
        CHECK(run.clientStatus == Status::Failed);
        CHECK(run.client.verdict() == PeerVerdict::Expired);
        CHECK_THAT(run.client.error(),
                   Catch::StartsWith("a certificate claiming spiffe://td.example/node/b: "));
        CHECK_THAT(otherSideFails(run.server, run.serverStatus), Catch::Contains("expired"));
    }
}

TEST_CASE("valid peers can still be refused by the authorizer or by `expected`", "[spiffe][tls]")
{
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    auto clientContext = contextOf(svidOf(a), pki.bundles);

    std::string version = GENERATE(as<std::string>{}, "TLSv1.3", "TLSv1.2");
    CAPTURE(version);
    SECTION("the server's authorizer refuses the client")
    {
        auto serverContext =
            contextOf(svidOf(b), pki.bundles, authorizeId(idOf("spiffe://td.example/node/c")));
        Run run(clientContext, serverContext);
        if (version == "TLSv1.2")
            REQUIRE(SSL_set_max_proto_version(run.client.native(), TLS1_2_VERSION) == 1);
        run.handshake();
        CHECK(run.serverStatus == Status::Failed);
        CHECK(run.server.verdict() == PeerVerdict::Unauthorized);
        CHECK_THAT(run.server.error(),
                   Catch::StartsWith("peer spiffe://td.example/node/a refused by the authorizer"));
        CHECK_FALSE(run.server.peerId());
        otherSideFails(run.client, run.clientStatus);
    }
    SECTION("the client expects another server")
    {
        Run run(clientContext, contextOf(svidOf(b), pki.bundles),
                authorizeId(idOf("spiffe://td.example/node/c")));
        if (version == "TLSv1.2")
            REQUIRE(SSL_set_max_proto_version(run.client.native(), TLS1_2_VERSION) == 1);
        run.handshake();
        CHECK(run.clientStatus == Status::Failed);
        CHECK(run.client.verdict() == PeerVerdict::Unauthorized);
        CHECK_THAT(run.client.error(),
                   Catch::StartsWith("peer spiffe://td.example/node/b is not the expected peer") &&
                       Catch::Contains("spiffe://td.example/node/c"));
        otherSideFails(run.server, run.serverStatus);
    }
    SECTION("`expected` adds to the authorizer: both must allow the peer")
    {
        auto narrow = contextOf(svidOf(a), pki.bundles, authorizeMemberOf("other.example"));
        Run run(narrow, contextOf(svidOf(b), pki.bundles),
                authorizeId(idOf("spiffe://td.example/node/b")));
        if (version == "TLSv1.2")
            REQUIRE(SSL_set_max_proto_version(run.client.native(), TLS1_2_VERSION) == 1);
        run.handshake();
        CHECK(run.clientStatus == Status::Failed);
        CHECK(run.client.verdict() == PeerVerdict::Unauthorized);
        CHECK_THAT(run.client.error(), Catch::Contains("member of other.example"));
    }
}

TEST_CASE("a client without a certificate is refused", "[spiffe][tls]")
{
    LivePki pki;
    auto b = pki.leaf("spiffe://td.example/node/b", pki.root);
    Link link;
    TlsSession server(contextOf(svidOf(b), pki.bundles), link.fds[1], true);

    // A plain OpenSSL client that presents no certificate and checks nothing.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                          SSL_CTX_free);
    REQUIRE(ctx);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    REQUIRE(ssl);
    REQUIRE(SSL_set_fd(ssl.get(), link.fds[0]) == 1);
    SSL_set_connect_state(ssl.get());

    Status serverStatus = Status::WantRead;
    bool clientDone = false;
    for (int turn = 0; turn < 100 && serverStatus != Status::Failed; turn++) {
        if (!clientDone)
            clientDone = SSL_do_handshake(ssl.get()) == 1;
        if (!finished(serverStatus))
            serverStatus = server.handshake();
    }
    ERR_clear_error(); // the plain client's own errors
    CHECK(serverStatus == Status::Failed);
    CHECK(server.verdict() == PeerVerdict::NoCertificate);
    CHECK(server.error() == "the peer sent no certificate");
    CHECK_FALSE(server.peerId());
}

TEST_CASE("a new context serves new sessions while old sessions keep theirs", "[spiffe][tls]")
{
    LivePki pki;
    auto a = pki.leaf("spiffe://td.example/node/a", pki.root);
    auto clientContext = contextOf(svidOf(a), pki.bundles);

    auto first = pki.leaf("spiffe://td.example/node/b", pki.root);
    Spec rotatedSpec = leafSpec("URI:spiffe://td.example/node/b", pki.t);
    rotatedSpec.notAfter = pki.t + 2 * hour;
    auto rotated = issue(rotatedSpec, &pki.root);

    auto current = contextOf(svidOf(first), pki.bundles);
    std::weak_ptr<const TlsContext> firstContext = current;
    auto old = std::make_unique<Run>(clientContext, current);
    old->handshake();
    REQUIRE(old->clientStatus == Status::Done);
    REQUIRE(old->serverStatus == Status::Done);

    // Rotation: the daemon swaps in a context for the new SVID and drops its reference to the old.
    current = contextOf(svidOf(rotated), pki.bundles);
    CHECK_FALSE(firstContext.expired()); // the old session holds it
    Run next(clientContext, current);
    next.handshake();
    REQUIRE(next.clientStatus == Status::Done);
    REQUIRE(next.serverStatus == Status::Done);
    CHECK(X509_cmp(SSL_get0_peer_certificate(next.client.native()), rotated.cert.get()) == 0);
    CHECK(next.client.peerNotAfter() == std::chrono::system_clock::from_time_t(pki.t + 2 * hour));
    CHECK(X509_cmp(SSL_get0_peer_certificate(old->client.native()), first.cert.get()) == 0);
    CHECK(old->client.peerNotAfter() == std::chrono::system_clock::from_time_t(pki.t + hour));

    // The old session still works both ways.
    std::vector<std::uint8_t> ping{'p', 'i', 'n', 'g'};
    CHECK(transfer(old->client, old->server, ping) == ping);
    CHECK(transfer(old->server, old->client, ping) == ping);
    CHECK(transfer(next.server, next.client, ping) == ping);

    old.reset();
    CHECK(firstContext.expired());
}
