// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "cert_fixture.h"
#include "grpc_frame.h"
#include "workload.h"
#include "workload.pb-c.h"

using namespace spiffe;
using namespace fixture;

namespace
{

using Bytes = std::vector<std::uint8_t>;

std::string endpointError(std::string_view text)
{
    auto parsed = parseEndpoint(text);
    if (auto *err = std::get_if<std::string>(&parsed))
        return *err;
    return "accepted";
}

Endpoint endpoint(std::string_view text)
{
    auto parsed = parseEndpoint(text);
    INFO(text << ": " << endpointError(text));
    REQUIRE(std::holds_alternative<Endpoint>(parsed));
    return std::get<Endpoint>(parsed);
}

Bytes frame(const Bytes &message, std::uint8_t flag = 0)
{
    auto size = static_cast<std::uint32_t>(message.size());
    Bytes out;
    out.reserve(GrpcFrameDecoder::headerSize + message.size());
    out.push_back(flag);
    for (int shift : {24, 16, 8, 0})
        out.push_back(static_cast<std::uint8_t>(size >> shift));
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

Bytes pattern(std::size_t size, std::uint8_t seed)
{
    Bytes out(size);
    for (std::size_t i = 0; i < size; i++)
        out[i] = static_cast<std::uint8_t>(seed + i * 7);
    return out;
}

// Feeds `pieces` in turn; the messages decoded, or the error.
struct Decoded {
    std::vector<Bytes> messages;
    std::string error;
};

Decoded decode(GrpcFrameDecoder &decoder, const std::vector<std::span<const std::uint8_t>> &pieces)
{
    Decoded out;
    for (auto piece : pieces) {
        out.error = decoder.feed(piece, [&](std::span<const std::uint8_t> m) {
            out.messages.emplace_back(m.begin(), m.end());
        });
        if (!out.error.empty())
            break;
    }
    return out;
}

Bytes pkcs8(EVP_PKEY *key)
{
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(key);
    REQUIRE(info != nullptr);
    unsigned char *out = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(info, &out);
    PKCS8_PRIV_KEY_INFO_free(info);
    REQUIRE(len > 0);
    Bytes bytes(out, out + len);
    OPENSSL_clear_free(out, static_cast<std::size_t>(len));
    return bytes;
}

ProtobufCBinaryData binary(Bytes &bytes)
{
    return ProtobufCBinaryData{bytes.size(), bytes.data()};
}

// One SVID as the fields of an X509SVID message.
struct SvidFields {
    std::string spiffeId;
    Bytes chain;
    Bytes key;
    Bytes bundle;
    std::string hint;
};

struct Pki {
    Issued root = issue(caSpec("td.example", "td root"));
    Issued fedRoot = issue(caSpec("fed.example", "fed root"));
    Issued otherRoot = issue(caSpec("other.example", "other root"));
    Issued leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &root);
    Issued leafB = issue(leafSpec("URI:spiffe://td.example/node/b"), &root);

    SvidFields fields(const Issued &cert, const std::string &id)
    {
        return {id, der(cert), pkcs8(cert.key.get()), der(root), "internal"};
    }
};

// Packs an X509SVIDResponse with the generated protobuf-c code.
Bytes svidResponse(std::vector<SvidFields> svids,
                   std::vector<std::pair<std::string, Bytes>> federated = {})
{
    std::vector<X509SVID> messages(svids.size());
    std::vector<X509SVID *> pointers;
    for (std::size_t i = 0; i < svids.size(); i++) {
        x509_svid__init(&messages[i]);
        messages[i].spiffe_id = svids[i].spiffeId.data();
        messages[i].x509_svid = binary(svids[i].chain);
        messages[i].x509_svid_key = binary(svids[i].key);
        messages[i].bundle = binary(svids[i].bundle);
        messages[i].hint = svids[i].hint.data();
        pointers.push_back(&messages[i]);
    }
    std::vector<X509SVIDResponse__FederatedBundlesEntry> entries(federated.size());
    std::vector<X509SVIDResponse__FederatedBundlesEntry *> entryPointers;
    for (std::size_t i = 0; i < federated.size(); i++) {
        x509_svidresponse__federated_bundles_entry__init(&entries[i]);
        entries[i].key = federated[i].first.data();
        entries[i].value = binary(federated[i].second);
        entryPointers.push_back(&entries[i]);
    }
    X509SVIDResponse response;
    x509_svidresponse__init(&response);
    response.n_svids = pointers.size();
    response.svids = pointers.data();
    response.n_federated_bundles = entryPointers.size();
    response.federated_bundles = entryPointers.data();
    Bytes out(x509_svidresponse__get_packed_size(&response));
    REQUIRE(x509_svidresponse__pack(&response, out.data()) == out.size());
    return out;
}

Bytes bundlesResponse(std::vector<std::pair<std::string, Bytes>> bundles)
{
    std::vector<X509BundlesResponse__BundlesEntry> entries(bundles.size());
    std::vector<X509BundlesResponse__BundlesEntry *> pointers;
    for (std::size_t i = 0; i < bundles.size(); i++) {
        x509_bundles_response__bundles_entry__init(&entries[i]);
        entries[i].key = bundles[i].first.data();
        entries[i].value = binary(bundles[i].second);
        pointers.push_back(&entries[i]);
    }
    X509BundlesResponse response;
    x509_bundles_response__init(&response);
    response.n_bundles = pointers.size();
    response.bundles = pointers.data();
    Bytes out(x509_bundles_response__get_packed_size(&response));
    REQUIRE(x509_bundles_response__pack(&response, out.data()) == out.size());
    return out;
}

std::string svidError(const Bytes &message)
{
    auto parsed = parseX509SvidResponse(message);
    if (auto *err = std::get_if<std::string>(&parsed)) {
        // A rejection must not leave OpenSSL errors behind for the next TLS call.
        CHECK(ERR_peek_error() == 0);
        return *err;
    }
    return "accepted";
}

X509Context svidContext(const Bytes &message)
{
    auto parsed = parseX509SvidResponse(message);
    INFO(svidError(message));
    REQUIRE(std::holds_alternative<X509Context>(parsed));
    return std::move(std::get<X509Context>(parsed));
}

std::string bundlesError(const Bytes &message)
{
    auto parsed = parseX509BundlesResponse(message);
    if (auto *err = std::get_if<std::string>(&parsed))
        return *err;
    return "accepted";
}

bool sameCert(X509 *a, X509 *b)
{
    return X509_cmp(a, b) == 0;
}

} // namespace

TEST_CASE("Workload API endpoints: unix:///path and tcp://IP:port", "[spiffe][workload]")
{
    auto unix = endpoint("unix:///run/spire/agent.sock");
    CHECK(unix.kind == Endpoint::Kind::Unix);
    CHECK(unix.address == "/run/spire/agent.sock");
    CHECK(unix.uri == "unix:///run/spire/agent.sock");

    auto v4 = endpoint("tcp://127.0.0.1:8081");
    CHECK(v4.kind == Endpoint::Kind::Tcp);
    CHECK(v4.address == "127.0.0.1");
    CHECK(v4.port == 8081);

    auto v6 = endpoint("tcp://[::1]:65535");
    CHECK(v6.kind == Endpoint::Kind::Tcp);
    CHECK(v6.address == "::1");
    CHECK(v6.port == 65535);
    CHECK(endpoint("tcp://[2001:db8::7]:1").address == "2001:db8::7");
}

TEST_CASE("Workload API endpoints: only Unix sockets and loopback TCP are local",
          "[spiffe][workload]")
{
    for (const char *local : {"unix:///run/spire/agent.sock", "tcp://127.0.0.1:8081",
                              "tcp://127.255.0.9:1", "tcp://[::1]:1", "tcp://[::ffff:127.0.0.1]:1"})
        CHECK(endpointIsLocal(endpoint(local)));
    for (const char *remote : {"tcp://198.18.0.1:8081", "tcp://0.0.0.0:1", "tcp://128.0.0.1:1",
                               "tcp://[fd00::1]:1", "tcp://[::]:1", "tcp://[::ffff:198.18.0.1]:1"})
        CHECK_FALSE(endpointIsLocal(endpoint(remote)));
    CHECK_THAT(remoteEndpointRefusal(endpoint("tcp://198.18.0.1:8081")),
               Catch::Matchers::Contains("spiffe.allow_remote_endpoint"));
}

TEST_CASE("Workload API endpoints: every other form is rejected, naming the rule",
          "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    CHECK_THAT(endpointError(""), Contains("empty"));
    CHECK_THAT(endpointError("/run/agent.sock"), Contains("scheme must be unix or tcp"));
    CHECK_THAT(endpointError("run/agent.sock"), Contains("scheme must be unix or tcp"));
    CHECK_THAT(endpointError("http://127.0.0.1:80"), Contains("scheme must be unix or tcp"));
    CHECK_THAT(endpointError("UNIX:///run/agent.sock"), Contains("scheme must be unix or tcp"));
    CHECK_THAT(endpointError("unix:/run/agent.sock"), Contains("unix:///absolute/path"));
    CHECK_THAT(endpointError("unix:run/agent.sock"), Contains("relative paths"));
    CHECK_THAT(endpointError("unix://run/agent.sock"), Contains("must not name a host"));
    CHECK_THAT(endpointError("unix://localhost/run/agent.sock"), Contains("must not name a host"));
    CHECK_THAT(endpointError("unix:///"), Contains("not a directory"));
    CHECK_THAT(endpointError("unix:///run/spire/"), Contains("not a directory"));
    CHECK_THAT(endpointError("unix:///run/agent.sock?x=1"), Contains("query"));
    CHECK_THAT(endpointError("unix:///run/agent.sock#x"), Contains("fragment"));
    CHECK_THAT(endpointError("unix://user@/run/agent.sock"), Contains("user info"));
    CHECK_THAT(endpointError("unix:///" + std::string(120, 'a')), Contains("longer than"));
    CHECK_THAT(endpointError(std::string("unix:///run/a\0b", 15)), Contains("NUL"));

    CHECK_THAT(endpointError("tcp:127.0.0.1:80"), Contains("tcp://IP:port"));
    CHECK_THAT(endpointError("tcp://user@127.0.0.1:80"), Contains("user info"));
    CHECK_THAT(endpointError("tcp://127.0.0.1"), Contains("must have a port"));
    CHECK_THAT(endpointError("tcp://[::1]"), Contains("must have a port"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:"), Contains("decimal number"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:8x"), Contains("decimal number"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:+80"), Contains("decimal number"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:0"), Contains("1-65535"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:65536"), Contains("1-65535"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:80/agent"), Contains("must not have a path"));
    CHECK_THAT(endpointError("tcp://127.0.0.1:80?x"), Contains("query"));
    CHECK_THAT(endpointError("tcp://localhost:80"), Contains("host names are not allowed"));
    CHECK_THAT(endpointError("tcp://10.1:80"), Contains("host names are not allowed"));
    CHECK_THAT(endpointError("tcp://::1:80"), Contains("host names are not allowed"));
    CHECK_THAT(endpointError("tcp://[localhost]:80"), Contains("IPv6"));
    CHECK_THAT(endpointError("tcp://[::1:80"), Contains("closing ']'"));
    CHECK_THAT(endpointError("tcp://[::1]80"), Contains("must have a port"));
    CHECK_THAT(endpointError("tcp://:80"), Contains("IP address"));
}

TEST_CASE("gRPC status codes have stable names", "[spiffe][workload]")
{
    CHECK(std::string(grpcCodeName(0)) == "ok");
    CHECK(std::string(grpcCodeName(1)) == "cancelled");
    CHECK(std::string(grpcCodeName(3)) == "invalid_argument");
    CHECK(std::string(grpcCodeName(7)) == "permission_denied");
    CHECK(std::string(grpcCodeName(12)) == "unimplemented");
    CHECK(std::string(grpcCodeName(13)) == "internal");
    CHECK(std::string(grpcCodeName(14)) == "unavailable");
    CHECK(std::string(grpcCodeName(16)) == "unauthenticated");
    CHECK(std::string(grpcCodeName(17)) == "unknown");
    CHECK(std::string(grpcCodeName(-1)) == "unknown");
}

TEST_CASE("gRPC frames are reassembled across any piece boundaries", "[spiffe][workload]")
{
    const std::vector<Bytes> messages = {pattern(0, 1), pattern(1, 2), pattern(300, 3),
                                         pattern(5, 4)};
    Bytes body;
    for (const auto &m : messages) {
        auto f = frame(m);
        body.insert(body.end(), f.begin(), f.end());
    }
    std::span<const std::uint8_t> all(body);

    SECTION("all in one piece")
    {
        GrpcFrameDecoder decoder;
        auto out = decode(decoder, {all});
        CHECK(out.error.empty());
        CHECK(out.messages == messages);
        CHECK(decoder.atBoundary());
    }
    SECTION("split in two at every byte boundary")
    {
        for (std::size_t cut = 0; cut <= body.size(); cut++) {
            INFO("cut at " << cut);
            GrpcFrameDecoder decoder;
            auto out = decode(decoder, {all.first(cut), all.subspan(cut)});
            REQUIRE(out.error.empty());
            REQUIRE(out.messages == messages);
            REQUIRE(decoder.atBoundary());
        }
    }
    SECTION("one byte at a time")
    {
        GrpcFrameDecoder decoder;
        Decoded out;
        for (std::size_t i = 0; i < body.size(); i++) {
            auto err = decoder.feed(all.subspan(i, 1), [&](std::span<const std::uint8_t> m) {
                out.messages.emplace_back(m.begin(), m.end());
            });
            REQUIRE(err.empty());
            // Between messages exactly when the bytes so far end a frame.
            bool boundary = i + 1 == 5 || i + 1 == 11 || i + 1 == 316 || i + 1 == body.size();
            REQUIRE(decoder.atBoundary() == boundary);
        }
        CHECK(out.messages == messages);
    }
}

TEST_CASE("gRPC frames: compressed and oversize messages are errors", "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    SECTION("compressed flag")
    {
        GrpcFrameDecoder decoder;
        Bytes body = frame(pattern(3, 0));
        Bytes compressed = frame(pattern(3, 0), 1);
        body.insert(body.end(), compressed.begin(), compressed.end());
        auto out = decode(decoder, {body});
        CHECK_THAT(out.error, Contains("compressed message"));
        CHECK(out.messages.size() == 1); // the message before it was still delivered
        CHECK(decoder.failed());
        // Stays failed.
        CHECK_FALSE(decoder.feed(frame(pattern(1, 0)), [](auto) { FAIL("delivered"); }).empty());
        decoder.reset();
        CHECK(decoder.feed(frame(pattern(1, 0)), [](auto) {}).empty());
    }
    SECTION("invalid flag")
    {
        GrpcFrameDecoder decoder;
        CHECK_THAT(decode(decoder, {frame(pattern(3, 0), 2)}).error,
                   Contains("invalid compressed flag 2"));
    }
    SECTION("over the size limit, announced by the header before the bytes arrive")
    {
        GrpcFrameDecoder decoder(16);
        auto exact = decode(decoder, {frame(pattern(16, 0))});
        CHECK(exact.error.empty());
        CHECK(exact.messages.size() == 1);
        Bytes header = frame(pattern(17, 0));
        header.resize(GrpcFrameDecoder::headerSize);
        CHECK_THAT(decode(decoder, {header}).error, Contains("over the limit of 16 bytes"));
    }
    SECTION("the default limit is 4 MiB")
    {
        GrpcFrameDecoder decoder;
        Bytes header = {0, 0x00, 0x40, 0x00, 0x01}; // 4 MiB + 1
        CHECK_THAT(decode(decoder, {header}).error, Contains("4194304"));
        GrpcFrameDecoder ok;
        Bytes atLimit = {0, 0x00, 0x40, 0x00, 0x00};
        CHECK(decode(ok, {atLimit}).error.empty());
        CHECK_FALSE(ok.atBoundary());
    }
}

TEST_CASE("X509SVIDResponse: a valid message becomes an X509Context", "[spiffe][workload]")
{
    Pki pki;
    auto a = pki.fields(pki.leaf, "spiffe://td.example/node/a");
    auto b = pki.fields(pki.leafB, "spiffe://td.example/node/b");
    b.hint = "";
    auto context = svidContext(svidResponse({a, b}, {{"spiffe://fed.example", der(pki.fedRoot)},
                                                     {"other.example", der(pki.otherRoot)}}));

    REQUIRE(context.svids.size() == 2);
    const Svid &first = *context.svids[0];
    CHECK(first.id.str() == "spiffe://td.example/node/a");
    CHECK(first.hint == "internal");
    CHECK(context.svids[1]->id.str() == "spiffe://td.example/node/b");
    CHECK(context.svids[1]->hint.empty());
    REQUIRE(first.chain.size() == 1);
    CHECK(sameCert(first.chain[0].get(), pki.leaf.cert.get()));
    CHECK(EVP_PKEY_eq(first.key.get(), pki.leaf.key.get()) == 1);
    CHECK(first.notBefore == std::chrono::system_clock::from_time_t(now - hour));
    CHECK(first.notAfter == std::chrono::system_clock::from_time_t(now + hour));

    // The SVIDs' own bundle, and federated ones keyed by "spiffe://td" or the bare name.
    REQUIRE(context.bundles.size() == 3);
    REQUIRE(context.bundles.count("td.example") == 1);
    CHECK(sameCert(context.bundles.at("td.example").at(0).get(), pki.root.cert.get()));
    REQUIRE(context.bundles.count("fed.example") == 1);
    CHECK(sameCert(context.bundles.at("fed.example").at(0).get(), pki.fedRoot.cert.get()));
    REQUIRE(context.bundles.count("other.example") == 1);

    // The SVIDs' own bundle wins over a federated entry for the same trust domain.
    auto own = svidContext(svidResponse({a}, {{"spiffe://td.example", der(pki.otherRoot)}}));
    CHECK(sameCert(own.bundles.at("td.example").at(0).get(), pki.root.cert.get()));

    // An intermediate travels in the chain after the leaf.
    Issued intermediate = issue(caSpec("td.example", "td intermediate"), &pki.root);
    Issued leafC = issue(leafSpec("URI:spiffe://td.example/node/c"), &intermediate);
    auto c = pki.fields(leafC, "spiffe://td.example/node/c");
    c.chain = concat({der(leafC), der(intermediate)});
    CHECK(svidContext(svidResponse({c})).svids[0]->chain.size() == 2);
}

TEST_CASE("X509SVIDResponse: any empty required field rejects the message", "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    Pki pki;
    auto valid = pki.fields(pki.leaf, "spiffe://td.example/node/a");
    CHECK(svidError(svidResponse({valid})) == "accepted");

    CHECK_THAT(svidError(svidResponse({})), Contains("no SVIDs"));
    CHECK_THAT(svidError(Bytes{}), Contains("no SVIDs"));
    auto noId = valid;
    noId.spiffeId.clear();
    CHECK_THAT(svidError(svidResponse({noId})), Contains("spiffe_id is empty"));
    auto noChain = valid;
    noChain.chain.clear();
    CHECK_THAT(svidError(svidResponse({noChain})), Contains("x509_svid is empty"));
    auto noKey = valid;
    noKey.key.clear();
    CHECK_THAT(svidError(svidResponse({noKey})), Contains("x509_svid_key is empty"));
    auto noBundle = valid;
    noBundle.bundle.clear();
    CHECK_THAT(svidError(svidResponse({noBundle})), Contains("bundle is empty"));

    // One bad SVID rejects the whole message, and the error says which.
    CHECK_THAT(svidError(svidResponse({valid, noKey})), Contains("svids[1]"));
}

TEST_CASE("X509SVIDResponse: invalid SVIDs, keys and bundles reject the message",
          "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    Pki pki;
    auto valid = pki.fields(pki.leaf, "spiffe://td.example/node/a");

    SECTION("the key does not match the leaf")
    {
        auto wrongKey = valid;
        wrongKey.key = pkcs8(pki.leafB.key.get());
        CHECK_THAT(svidError(svidResponse({wrongKey})), Contains("does not match"));
    }
    SECTION("spiffe_id differs from the leaf's URI SAN")
    {
        auto other = pki.fields(pki.leaf, "spiffe://td.example/node/b");
        CHECK_THAT(svidError(svidResponse({other})), Contains("differs from the leaf's URI SAN"));
        auto otherTd = pki.fields(pki.leaf, "spiffe://other.example/node/a");
        CHECK_THAT(svidError(svidResponse({otherTd})), Contains("differs"));
        auto notAnId = pki.fields(pki.leaf, "https://td.example/node/a");
        CHECK_THAT(svidError(svidResponse({notAnId})), Contains("not a SPIFFE ID"));
    }
    SECTION("bad DER")
    {
        auto badChain = valid;
        badChain.chain = {0x30, 0x03, 0x01, 0x02, 0x03};
        CHECK_THAT(svidError(svidResponse({badChain})), Contains("x509_svid:"));
        auto trailing = valid;
        trailing.chain.push_back(0);
        CHECK_THAT(svidError(svidResponse({trailing})), Contains("x509_svid:"));
        auto badKey = valid;
        badKey.key = {0x30, 0x00};
        CHECK_THAT(svidError(svidResponse({badKey})), Contains("PKCS#8"));
        auto keyTrailing = valid;
        keyTrailing.key.push_back(0);
        CHECK_THAT(svidError(svidResponse({keyTrailing})), Contains("after the PKCS#8"));
        auto badBundle = valid;
        badBundle.bundle = {1, 2, 3};
        CHECK_THAT(svidError(svidResponse({badBundle})), Contains("bundle of td.example"));
        CHECK_THAT(svidError(Bytes{0xff, 0xff, 0xff}), Contains("not a valid protobuf"));
    }
    SECTION("the leaf breaks the SVID rules")
    {
        Issued ca = issue(caSpec("td.example", "a CA as leaf"), &pki.root);
        auto caLeaf = pki.fields(ca, "spiffe://td.example");
        CHECK_THAT(svidError(svidResponse({caLeaf})), Contains("x509_svid:"));
    }
    SECTION("federated bundles")
    {
        CHECK_THAT(svidError(svidResponse({valid}, {{"spiffe://fed.example", {1, 2, 3}}})),
                   Contains("federated_bundles[\"spiffe://fed.example\"]"));
        CHECK_THAT(svidError(svidResponse({valid}, {{"spiffe://fed.example", {}}})),
                   Contains("federated_bundles"));
        CHECK_THAT(
            svidError(svidResponse({valid}, {{"spiffe://fed.example/path", der(pki.fedRoot)}})),
            Contains("federated_bundles"));
        CHECK_THAT(svidError(svidResponse({valid}, {{"", der(pki.fedRoot)}})),
                   Contains("federated_bundles"));
        CHECK_THAT(svidError(svidResponse({valid}, {{"https://fed.example", der(pki.fedRoot)}})),
                   Contains("federated_bundles"));
    }
}

TEST_CASE("X509BundlesResponse: bundles by trust domain; none at all is an error",
          "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    Pki pki;
    auto parsed = parseX509BundlesResponse(
        bundlesResponse({{"spiffe://td.example", der(pki.root)},
                         {"fed.example", concat({der(pki.fedRoot), der(pki.otherRoot)})}}));
    REQUIRE(std::holds_alternative<BundleSet>(parsed));
    auto &bundles = std::get<BundleSet>(parsed);
    REQUIRE(bundles.size() == 2);
    CHECK(bundles.at("td.example").size() == 1);
    CHECK(bundles.at("fed.example").size() == 2);

    CHECK_THAT(bundlesError(bundlesResponse({})), Contains("no bundles"));
    CHECK_THAT(bundlesError(bundlesResponse({{"td.example", {1, 2}}})),
               Contains("bundles[\"td.example\"]"));
    CHECK_THAT(bundlesError(bundlesResponse({{"td.example", {}}})), Contains("td.example"));
    CHECK_THAT(bundlesError(bundlesResponse({{"not a td", der(pki.root)}})),
               Contains("bundles[\"not a td\"]"));
    CHECK_THAT(bundlesError(Bytes{0x12}), Contains("not a valid protobuf"));
}

TEST_CASE("Backoff stays within its bounds and starts over after reset()", "[spiffe][workload]")
{
    using ms = std::chrono::milliseconds;
    Backoff backoff(ms(100), ms(2000));
    ms largest{0};
    for (int i = 0; i < 200; i++) {
        ms delay = backoff.next();
        REQUIRE(delay >= ms(50));
        REQUIRE(delay <= ms(2000));
        largest = std::max(largest, delay);
    }
    // It grows: after many failures the delays reach the upper half of the cap.
    CHECK(largest > ms(1000));

    for (int i = 0; i < 100; i++) {
        for (int j = 0; j < 20; j++)
            backoff.next();
        backoff.reset();
        ms first = backoff.next();
        REQUIRE(first >= ms(50));
        REQUIRE(first <= ms(100));
    }

    // A cap below the start is raised to it.
    Backoff capped(ms(1000), ms(10));
    for (int i = 0; i < 20; i++) {
        ms delay = capped.next();
        REQUIRE(delay >= ms(500));
        REQUIRE(delay <= ms(1000));
    }
}

namespace
{

// A Unix socket in a fresh temporary directory, listening.
struct Listener {
    std::filesystem::path dir;
    std::string path;
    int fd = -1;

    Listener()
    {
        char tmpl[] = "/tmp/meshd-workload-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = (dir / "agent.sock").string();
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0);
        REQUIRE(listen(fd, 4) == 0);
    }
    ~Listener()
    {
        ::close(fd);
        std::filesystem::remove_all(dir);
    }
    int accept() const { return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); }
};

// Runs the client's events until `done` or a second passes.
void pump(WorkloadClient &client, const std::function<bool()> &done)
{
    for (int i = 0; i < 100 && !done() && client.fd() >= 0; i++) {
        pollfd p{client.fd(), static_cast<short>(client.events()), 0};
        int n = poll(&p, 1, 10);
        REQUIRE(n >= 0);
        if (n == 1)
            client.handle(static_cast<std::uint32_t>(p.revents));
    }
}

} // namespace

TEST_CASE("WorkloadClient: connect errors, and a closed connection reported once",
          "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    int closedCalls = 0;
    WorkloadError last{};
    WorkloadClient::Handlers handlers;
    handlers.closed = [&](const WorkloadError &e) {
        closedCalls++;
        last = e;
    };

    SECTION("no socket")
    {
        WorkloadClient client(endpoint("unix:///nonexistent/meshd/agent.sock"), handlers);
        CHECK_THAT(client.connect(),
                   Contains("no such socket /nonexistent/meshd/agent.sock: No such file"));
        CHECK(client.fd() == -1);
        CHECK(client.events() == 0);
        CHECK_FALSE(client.connected());
        CHECK(closedCalls == 0);
    }
    SECTION("the agent hangs up: unavailable, and idle afterwards")
    {
        Listener agent;
        WorkloadClient client(endpoint("unix://" + agent.path), handlers);
        REQUIRE(client.connect().empty());
        CHECK(client.fd() >= 0);
        CHECK((client.events() & POLLIN) != 0);
        int server = agent.accept();
        REQUIRE(server >= 0);
        // The client already sent the HTTP/2 preface.
        char magic[24] = {};
        REQUIRE(recv(server, magic, sizeof(magic), MSG_WAITALL) == 24);
        CHECK(std::string(magic, 24) == "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        ::close(server);
        pump(client, [&] { return closedCalls > 0; });
        CHECK(closedCalls == 1);
        CHECK(last.code == 14);
        CHECK(last.label == "unavailable");
        CHECK(last.retry);
        CHECK(client.fd() == -1);
        CHECK(client.events() == 0);
    }
    SECTION("not HTTP/2: internal")
    {
        Listener agent;
        WorkloadClient client(endpoint("unix://" + agent.path), handlers);
        REQUIRE(client.connect().empty());
        int server = agent.accept();
        REQUIRE(server >= 0);
        std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        REQUIRE(send(server, reply.data(), reply.size(), 0) == static_cast<ssize_t>(reply.size()));
        pump(client, [&] { return closedCalls > 0; });
        ::close(server);
        CHECK(closedCalls == 1);
        CHECK(last.code == 13);
        CHECK(client.fd() == -1);
    }
}

TEST_CASE("WorkloadClient: handlers may reconnect or close from inside handle()",
          "[spiffe][workload]")
{
    Listener agent;
    int closedCalls = 0;
    WorkloadClient *self = nullptr;
    std::string reconnect;
    WorkloadClient::Handlers handlers;
    handlers.closed = [&](const WorkloadError &) {
        closedCalls++;
        if (closedCalls == 1)
            reconnect = self->connect();
        else
            throw std::runtime_error("handler failure");
    };
    WorkloadClient client(endpoint("unix://" + agent.path), handlers);
    self = &client;
    REQUIRE(client.connect().empty());

    ::close(agent.accept());
    pump(client, [&] { return closedCalls > 0; });
    REQUIRE(closedCalls == 1);
    CHECK(reconnect.empty());
    CHECK(client.fd() >= 0); // the handler's new connection survived handle()

    // The second close throws from the handler; handle() must not.
    ::close(agent.accept());
    pump(client, [&] { return closedCalls > 1; });
    CHECK(closedCalls == 2);
    CHECK(client.lastHandlerError() == "handler failure");
    CHECK(client.fd() == -1);

    // close() is quiet.
    REQUIRE(client.connect().empty());
    client.close();
    CHECK(client.fd() == -1);
    CHECK(closedCalls == 2);
}

namespace
{

// A Workload API agent made of nghttp2's server side, on the accepted end of
// a Listener: it records the client's requests and frames, and sends exactly
// the frames a test asks for.
class FakeAgent
{
public:
    struct Request {
        std::map<std::string, std::string> headers;
        Bytes body;
        bool ended = false;
    };

    explicit FakeAgent(int fd) : fd_(fd)
    {
        nghttp2_session_callbacks *callbacks = nullptr;
        REQUIRE(nghttp2_session_callbacks_new(&callbacks) == 0);
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onData);
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrame);
        REQUIRE(nghttp2_session_server_new(&session_, callbacks, this) == 0);
        nghttp2_session_callbacks_del(callbacks);
        REQUIRE(nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0) == 0);
    }
    ~FakeAgent()
    {
        nghttp2_session_del(session_);
        ::close(fd_);
    }

    // Reads what the client sent, and sends what is queued.
    void pump()
    {
        std::uint8_t buf[16384];
        for (;;) {
            ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0)
                break;
            REQUIRE(nghttp2_session_mem_recv(session_, buf, static_cast<std::size_t>(n)) == n);
        }
        for (;;) {
            const std::uint8_t *data = nullptr;
            ssize_t n = nghttp2_session_mem_send(session_, &data);
            REQUIRE(n >= 0);
            if (n == 0)
                break;
            // The client may be gone already (the tests of connection errors).
            if (send(fd_, data, static_cast<std::size_t>(n), MSG_NOSIGNAL) < 0)
                break;
        }
    }

    std::int32_t stream(const std::string &path) const
    {
        for (const auto &[id, request] : requests)
            if (request.headers.count(":path") && request.headers.at(":path") == path)
                return id;
        return -1;
    }

    void headers(std::int32_t stream, std::vector<std::pair<std::string, std::string>> fields,
                 bool endStream = false)
    {
        std::vector<nghttp2_nv> nva;
        for (auto &[name, value] : fields)
            nva.push_back({reinterpret_cast<std::uint8_t *>(name.data()),
                           reinterpret_cast<std::uint8_t *>(value.data()), name.size(),
                           value.size(), NGHTTP2_NV_FLAG_NONE});
        REQUIRE(nghttp2_submit_headers(session_,
                                       endStream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE,
                                       stream, nullptr, nva.data(), nva.size(), nullptr) >= 0);
        pump();
    }
    void ok(std::int32_t stream)
    {
        headers(stream, {{":status", "200"}, {"content-type", "application/grpc"}});
    }
    // One DATA frame per piece.
    void data(std::int32_t stream, const Bytes &bytes, std::size_t pieces = 1)
    {
        std::size_t step = (bytes.size() + pieces - 1) / pieces;
        for (std::size_t off = 0; off < bytes.size(); off += step) {
            outgoing_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(off),
                             bytes.begin() +
                                 static_cast<std::ptrdiff_t>(std::min(off + step, bytes.size())));
            nghttp2_data_provider provider{};
            provider.source.ptr = this;
            provider.read_callback = readOutgoing;
            REQUIRE(nghttp2_submit_data(session_, NGHTTP2_FLAG_NONE, stream, &provider) == 0);
            pump();
        }
    }
    void trailers(std::int32_t stream, std::vector<std::pair<std::string, std::string>> fields)
    {
        headers(stream, std::move(fields), true);
    }
    void reset(std::int32_t stream, std::uint32_t code)
    {
        REQUIRE(nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, code) == 0);
        pump();
    }
    void goaway(std::uint32_t code, const std::string &debug)
    {
        REQUIRE(nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 3, code,
                                      reinterpret_cast<const std::uint8_t *>(debug.data()),
                                      debug.size()) == 0);
        pump();
    }
    void ping()
    {
        REQUIRE(nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) == 0);
        pump();
    }

    std::map<std::int32_t, Request> requests;
    int clientPings = 0; // PINGs the client started (must stay 0)
    int pingAcks = 0;    // its answers to ours

private:
    static int onHeader(nghttp2_session *, const nghttp2_frame *frame, const std::uint8_t *name,
                        std::size_t namelen, const std::uint8_t *value, std::size_t valuelen,
                        std::uint8_t, void *self)
    {
        static_cast<FakeAgent *>(self)->requests[frame->hd.stream_id].headers.emplace(
            std::string(reinterpret_cast<const char *>(name), namelen),
            std::string(reinterpret_cast<const char *>(value), valuelen));
        return 0;
    }
    static int onData(nghttp2_session *, std::uint8_t, std::int32_t stream,
                      const std::uint8_t *data, std::size_t len, void *self)
    {
        auto &body = static_cast<FakeAgent *>(self)->requests[stream].body;
        body.insert(body.end(), data, data + len);
        return 0;
    }
    static int onFrame(nghttp2_session *, const nghttp2_frame *frame, void *self)
    {
        auto *agent = static_cast<FakeAgent *>(self);
        if (frame->hd.type == NGHTTP2_PING)
            (frame->hd.flags & NGHTTP2_FLAG_ACK ? agent->pingAcks : agent->clientPings)++;
        if (frame->hd.stream_id != 0 && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            agent->requests[frame->hd.stream_id].ended = true;
        return 0;
    }
    static ssize_t readOutgoing(nghttp2_session *, std::int32_t, std::uint8_t *buf,
                                std::size_t length, std::uint32_t *flags,
                                nghttp2_data_source *source, void *)
    {
        auto *agent = static_cast<FakeAgent *>(source->ptr);
        std::size_t n = std::min(length, agent->outgoing_.size());
        std::memcpy(buf, agent->outgoing_.data(), n);
        agent->outgoing_.erase(agent->outgoing_.begin(),
                               agent->outgoing_.begin() + static_cast<std::ptrdiff_t>(n));
        if (agent->outgoing_.empty())
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
    }

    int fd_;
    nghttp2_session *session_ = nullptr;
    Bytes outgoing_;
};

const std::string svidPath = "/SpiffeWorkloadAPI/FetchX509SVID";
const std::string bundlesPath = "/SpiffeWorkloadAPI/FetchX509Bundles";

// A client connected to a FakeAgent with both requests received, recording its handler calls.
struct Session {
    Listener listener;
    std::vector<X509Context> contexts;
    std::vector<BundleSet> bundleSets;
    std::vector<WorkloadError> rejected;
    std::vector<WorkloadError> closed;
    std::function<void()> contextHook, closedHook; // run after the handlers record
    std::unique_ptr<WorkloadClient> client;
    std::unique_ptr<FakeAgent> agent;
    std::int32_t svid = -1;
    std::int32_t bundles = -1;

    Session()
    {
        WorkloadClient::Handlers handlers;
        handlers.x509Context = [this](X509Context c) {
            contexts.push_back(std::move(c));
            if (contextHook)
                contextHook();
        };
        handlers.bundles = [this](BundleSet b) { bundleSets.push_back(std::move(b)); };
        handlers.rejected = [this](const WorkloadError &e) { rejected.push_back(e); };
        handlers.closed = [this](const WorkloadError &e) {
            closed.push_back(e);
            if (closedHook)
                closedHook();
        };
        client = std::make_unique<WorkloadClient>(endpoint("unix://" + listener.path), handlers);
        REQUIRE(client->connect().empty());
        int fd = listener.accept();
        REQUIRE(fd >= 0);
        agent = std::make_unique<FakeAgent>(fd);
        run([this] {
            return client->connected() && agent->stream(svidPath) > 0 &&
                   agent->stream(bundlesPath) > 0 &&
                   agent->requests[agent->stream(svidPath)].ended &&
                   agent->requests[agent->stream(bundlesPath)].ended;
        });
        svid = agent->stream(svidPath);
        bundles = agent->stream(bundlesPath);
        REQUIRE(svid > 0);
        REQUIRE(bundles > 0);
    }

    // Alternates between the agent and the client until `done` (or a second passes).
    void run(const std::function<bool()> &done)
    {
        for (int i = 0; i < 200 && !done(); i++) {
            agent ? agent->pump() : void();
            if (client->fd() < 0)
                break;
            pollfd p{client->fd(), static_cast<short>(client->events()), 0};
            if (poll(&p, 1, 5) == 1)
                client->handle(static_cast<std::uint32_t>(p.revents));
        }
    }
    // Gives both sides some rounds to show anything more they would do.
    void settle()
    {
        int rounds = 0;
        run([&] { return ++rounds > 40; });
    }
    WorkloadError closedWith()
    {
        run([this] { return !closed.empty(); });
        REQUIRE(closed.size() == 1);
        CHECK(client->fd() == -1);
        return closed.front();
    }
};

} // namespace

TEST_CASE("WorkloadClient: the requests are gRPC calls with the security header",
          "[spiffe][workload]")
{
    Session s;
    for (std::int32_t stream : {s.svid, s.bundles}) {
        const auto &request = s.agent->requests.at(stream);
        CHECK(request.headers.at(":method") == "POST");
        CHECK(request.headers.at(":scheme") == "http");
        CHECK(request.headers.at(":authority") == "localhost");
        CHECK(request.headers.at("content-type") == "application/grpc");
        CHECK(request.headers.at("te") == "trailers");
        CHECK(request.headers.at("workload.spiffe.io") == "true");
        CHECK(request.headers.count("grpc-accept-encoding") == 0);
        // One empty request message, then END_STREAM.
        CHECK(request.body == Bytes(5, 0));
        CHECK(request.ended);
    }
    // The server's PING is answered; the client never sends its own.
    s.agent->ping();
    s.run([&] { return s.agent->pingAcks > 0; });
    CHECK(s.agent->pingAcks == 1);
    s.settle();
    CHECK(s.agent->clientPings == 0);
    CHECK(s.closed.empty());
}

TEST_CASE("WorkloadClient: responses in any DATA frames; rejected ones keep the stream open",
          "[spiffe][workload]")
{
    Pki pki;
    Session s;
    auto svids = frame(svidResponse({pki.fields(pki.leaf, "spiffe://td.example/node/a")}));
    auto bundles = frame(bundlesResponse({{"spiffe://td.example", der(pki.root)}}));

    s.agent->ok(s.svid);
    s.agent->data(s.svid, svids, 7); // split across seven DATA frames
    s.run([&] { return !s.contexts.empty(); });
    REQUIRE(s.contexts.size() == 1);
    CHECK(s.contexts[0].svids.at(0)->id.str() == "spiffe://td.example/node/a");

    s.agent->ok(s.bundles);
    s.agent->data(s.bundles, bundles);
    s.run([&] { return !s.bundleSets.empty(); });
    REQUIRE(s.bundleSets.size() == 1);
    CHECK(s.bundleSets[0].count("td.example") == 1);

    // Two messages in one DATA frame: a malformed one, then a good one.
    auto twice = frame(svidResponse({}));
    twice.insert(twice.end(), svids.begin(), svids.end());
    s.agent->data(s.svid, twice);
    s.run([&] { return s.contexts.size() == 2; });
    REQUIRE(s.rejected.size() == 1);
    CHECK(s.rejected[0].label == "malformed_response");
    CHECK(s.rejected[0].retry);
    CHECK_THAT(s.rejected[0].message, Catch::Matchers::Contains("no SVIDs"));
    CHECK(s.contexts.size() == 2);

    // An agent without FetchX509Bundles: reported, the connection stays.
    s.agent->trailers(s.bundles, {{"grpc-status", "12"}, {"grpc-message", "unknown%20method"}});
    s.run([&] { return s.rejected.size() == 2; });
    REQUIRE(s.rejected.size() == 2);
    CHECK(s.rejected[1].code == 12);
    CHECK(s.rejected[1].label == "unimplemented");
    CHECK_FALSE(s.rejected[1].retry);
    CHECK_THAT(s.rejected[1].message, Catch::Matchers::Contains("unknown method"));
    s.settle();
    CHECK(s.closed.empty());
    CHECK(s.client->fd() >= 0);
    s.agent->data(s.svid, svids);
    s.run([&] { return s.contexts.size() == 3; });
    CHECK(s.contexts.size() == 3);

    // Then FetchX509SVID fails: closed, once.
    s.agent->trailers(s.svid, {{"grpc-status", "14"}});
    auto err = s.closedWith();
    CHECK(err.code == 14);
    CHECK(err.label == "unavailable");
}

TEST_CASE("WorkloadClient: how streams and connections end", "[spiffe][workload]")
{
    using Catch::Matchers::Contains;
    Session s;
    SECTION("Trailers-Only with a status and a percent-encoded message")
    {
        s.agent->headers(s.svid,
                         {{":status", "200"},
                          {"content-type", "application/grpc"},
                          {"grpc-status", "7"},
                          {"grpc-message", "no identity %28100%25 sure%29%zz"}},
                         true);
        auto err = s.closedWith();
        CHECK(err.code == 7);
        CHECK(err.label == "permission_denied");
        CHECK(err.retry);
        CHECK_THAT(err.message, Contains("no identity (100% sure)%zz"));
    }
    SECTION("invalid_argument is not retried")
    {
        s.agent->headers(s.svid, {{":status", "200"}, {"grpc-status", "3"}}, true);
        auto err = s.closedWith();
        CHECK(err.code == 3);
        CHECK_FALSE(err.retry);
    }
    SECTION("trailers without grpc-status")
    {
        s.agent->ok(s.svid);
        s.agent->trailers(s.svid, {{"x-other", "1"}});
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("without a grpc-status"));
    }
    SECTION("a grpc-status in the response headers does not count for the trailers")
    {
        s.agent->headers(
            s.svid,
            {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "5"}});
        s.agent->trailers(s.svid, {{"x-other", "1"}});
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("without a grpc-status"));
    }
    SECTION("the stream ends inside a message")
    {
        s.agent->ok(s.svid);
        s.agent->data(s.svid, {0, 0, 0, 0, 9, 1, 2});
        s.agent->trailers(s.svid, {{"grpc-status", "0"}});
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("inside a message"));
    }
    SECTION("an orderly end of the stream")
    {
        s.agent->ok(s.bundles);
        s.agent->trailers(s.bundles, {{"grpc-status", "0"}});
        auto err = s.closedWith();
        CHECK(err.code == 14);
        CHECK_THAT(err.message, Contains("FetchX509Bundles"));
    }
    SECTION("a compressed message")
    {
        s.agent->ok(s.svid);
        s.agent->data(s.svid, frame({1, 2, 3}, 1));
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("compressed"));
    }
    SECTION("a message over 4 MiB")
    {
        s.agent->ok(s.svid);
        s.agent->data(s.svid, {0, 0x01, 0, 0, 0});
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("over the limit"));
    }
    SECTION("HTTP status other than 200")
    {
        s.agent->headers(s.svid, {{":status", "503"}, {"content-type", "text/plain"}}, true);
        auto err = s.closedWith();
        CHECK(err.code == 14);
        CHECK_THAT(err.message, Contains("HTTP status 503"));
    }
    SECTION("a content-type that is not gRPC")
    {
        s.agent->headers(s.svid, {{":status", "200"}, {"content-type", "text/html"}});
        auto err = s.closedWith();
        CHECK(err.code == 13);
        CHECK_THAT(err.message, Contains("content-type"));
    }
    SECTION("RST_STREAM codes map to gRPC status codes")
    {
        std::uint32_t reset = GENERATE(as<std::uint32_t>{}, NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL,
                                       NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY,
                                       NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR);
        const std::map<std::uint32_t, int> expected = {
            {NGHTTP2_REFUSED_STREAM, 14},   {NGHTTP2_CANCEL, 1},
            {NGHTTP2_ENHANCE_YOUR_CALM, 8}, {NGHTTP2_INADEQUATE_SECURITY, 7},
            {NGHTTP2_NO_ERROR, 13},         {NGHTTP2_PROTOCOL_ERROR, 13},
        };
        s.agent->reset(s.svid, reset);
        auto err = s.closedWith();
        INFO(err.message);
        CHECK(err.code == expected.at(reset));
        CHECK_THAT(err.message, Contains("reset"));
    }
    SECTION("GOAWAY")
    {
        s.agent->goaway(NGHTTP2_ENHANCE_YOUR_CALM, "too_many_pings");
        auto err = s.closedWith();
        CHECK(err.code == 14);
        CHECK_THAT(err.message, Contains("GOAWAY (ENHANCE_YOUR_CALM): too_many_pings"));
    }
    SECTION("the agent goes away without a word")
    {
        s.agent.reset(); // EOF, or a reset when the client's last frames were unread
        auto err = s.closedWith();
        CHECK(err.code == 14);
        CHECK_THAT(err.message, Contains("the agent at unix://"));
    }
}

TEST_CASE("WorkloadClient: a failed connection's messages are handled while its socket is open",
          "[spiffe][workload]")
{
    // The owner's event loop has the fd registered until `closed` runs: a
    // handler that opens a socket (meshd dials its peers on a new SVID) must
    // not be given the same fd number.
    Pki pki;
    Session s;
    int fdInContext = -1, fdInClosed = 0;
    bool openInContext = false;
    s.contextHook = [&] {
        fdInContext = s.client->fd();
        openInContext = fdInContext >= 0 && fcntl(fdInContext, F_GETFD) != -1;
    };
    s.closedHook = [&] { fdInClosed = s.client->fd(); };
    int before = s.client->fd();
    s.agent->ok(s.svid);
    // A response and a GOAWAY, read together.
    s.agent->data(s.svid, frame(svidResponse({pki.fields(pki.leaf, "spiffe://td.example/node/a")})));
    s.agent->goaway(NGHTTP2_NO_ERROR, "");
    auto err = s.closedWith();
    CHECK(err.code == 14);
    REQUIRE(s.contexts.size() == 1);
    CHECK(fdInContext == before);
    CHECK(openInContext);
    CHECK(fdInClosed == -1);
}
