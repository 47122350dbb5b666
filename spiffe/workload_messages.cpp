// SPDX-License-Identifier: GPL-2.0-or-later
// Decoding of the Workload API's X.509 responses (protobuf-c) into SVIDs and bundles.
#include "workload.h"

#include "asn1_time.h"

#include <cstdlib>
#include <ctime>
#include <new>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "workload.pb-c.h"

namespace spiffe
{

namespace
{

// protobuf-c copies bytes fields (x509_svid_key among them) into blocks of
// its allocator, and frees some while parsing. This allocator wipes every
// block before freeing it, so no key bytes stay behind in freed memory.
constexpr std::size_t blockHeader = alignof(std::max_align_t);

void *cleansingAlloc(void *, size_t size)
{
    auto *block = static_cast<unsigned char *>(std::malloc(size + blockHeader));
    if (block == nullptr)
        return nullptr;
    *reinterpret_cast<std::size_t *>(block) = size;
    return block + blockHeader;
}

void cleansingFree(void *, void *pointer)
{
    if (pointer == nullptr)
        return;
    auto *block = static_cast<unsigned char *>(pointer) - blockHeader;
    OPENSSL_cleanse(pointer, *reinterpret_cast<std::size_t *>(block));
    std::free(block);
}

ProtobufCAllocator cleansingAllocator = {cleansingAlloc, cleansingFree, nullptr};

struct SvidResponseFree {
    void operator()(X509SVIDResponse *response) const
    {
        x509_svidresponse__free_unpacked(response, &cleansingAllocator);
    }
};
struct BundlesResponseFree {
    void operator()(X509BundlesResponse *response) const
    {
        x509_bundles_response__free_unpacked(response, &cleansingAllocator);
    }
};
struct Pkcs8Free {
    void operator()(PKCS8_PRIV_KEY_INFO *info) const { PKCS8_PRIV_KEY_INFO_free(info); }
};

std::span<const std::uint8_t> bytes(const ProtobufCBinaryData &data)
{
    if (data.data == nullptr)
        return {};
    return {data.data, data.len};
}

std::string_view text(const char *string)
{
    return string == nullptr ? std::string_view{} : std::string_view{string};
}

std::string fail(std::string message)
{
    // A rejected message must not leave OpenSSL errors for the next TLS call.
    ERR_clear_error();
    return message;
}

// The PKCS#8 DER private key of an SVID; every byte must belong to it.
std::variant<PrivateKey, std::string> parseKey(std::span<const std::uint8_t> der)
{
    const unsigned char *p = der.data();
    std::unique_ptr<PKCS8_PRIV_KEY_INFO, Pkcs8Free> info(
        d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
    if (!info)
        return fail("x509_svid_key is not a PKCS#8 DER private key");
    if (p != der.data() + der.size())
        return fail("x509_svid_key has " + std::to_string(der.data() + der.size() - p) +
                    " bytes after the PKCS#8 private key");
    PrivateKey key(EVP_PKCS82PKEY(info.get()));
    if (!key)
        return fail("x509_svid_key holds a PKCS#8 private key of an unsupported type");
    return key;
}

std::variant<std::shared_ptr<const Svid>, std::string> parseSvid(const X509SVID &message,
                                                                 BundleSet &bundles)
{
    if (text(message.spiffe_id).empty())
        return fail("spiffe_id is empty");
    if (message.x509_svid.len == 0)
        return fail("x509_svid is empty");
    if (message.x509_svid_key.len == 0)
        return fail("x509_svid_key is empty");
    if (message.bundle.len == 0)
        return fail("bundle is empty");

    auto claimed = parseId(text(message.spiffe_id));
    if (auto *err = std::get_if<IdError>(&claimed))
        return fail("spiffe_id is not a SPIFFE ID: " + err->message);

    auto svid = std::make_shared<Svid>();
    auto chain = parseDerChain(bytes(message.x509_svid));
    if (auto *err = std::get_if<SvidError>(&chain))
        return fail("x509_svid: " + err->message);
    svid->chain = std::move(std::get<Certificates>(chain));
    X509 *leaf = svid->chain.front().get();

    auto leafId = checkLeaf(leaf);
    if (auto *err = std::get_if<SvidError>(&leafId))
        return fail("x509_svid: " + err->message);
    svid->id = std::move(std::get<SpiffeId>(leafId));
    if (svid->id != std::get<SpiffeId>(claimed))
        return fail("spiffe_id " + std::string(text(message.spiffe_id)) +
                    " differs from the leaf's URI SAN " + svid->id.str());

    auto key = parseKey(bytes(message.x509_svid_key));
    if (auto *err = std::get_if<std::string>(&key))
        return std::move(*err);
    svid->key = std::move(std::get<PrivateKey>(key));
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf), svid->key.get()) != 1)
        return fail("x509_svid_key does not match the leaf certificate's public key");

    if (auto err = addBundle(bundles, svid->id.trustDomain, bytes(message.bundle)))
        return fail(err->message);

    svid->hint = text(message.hint);
    svid->notBefore = asn1TimePoint(X509_get0_notBefore(leaf));
    svid->notAfter = asn1TimePoint(X509_get0_notAfter(leaf));
    return std::shared_ptr<const Svid>(std::move(svid));
}

} // namespace

std::variant<X509Context, std::string> parseX509SvidResponse(std::span<const std::uint8_t> message)
{
    std::unique_ptr<X509SVIDResponse, SvidResponseFree> response(
        x509_svidresponse__unpack(&cleansingAllocator, message.size(), message.data()));
    if (!response)
        return std::string("the X509SVIDResponse is not a valid protobuf message");
    if (response->n_svids == 0)
        return std::string("the X509SVIDResponse has no SVIDs");

    X509Context context;
    for (std::size_t i = 0; i < response->n_svids; i++) {
        auto svid = parseSvid(*response->svids[i], context.bundles);
        if (auto *err = std::get_if<std::string>(&svid)) {
            std::string which = "svids[" + std::to_string(i) + "]";
            if (!text(response->svids[i]->spiffe_id).empty())
                which += " (" + std::string(text(response->svids[i]->spiffe_id)) + ")";
            return which + ": " + *err;
        }
        context.svids.push_back(std::move(std::get<std::shared_ptr<const Svid>>(svid)));
    }

    // The SVIDs' own bundles take precedence over a federated entry for their trust domain.
    BundleSet federated;
    for (std::size_t i = 0; i < response->n_federated_bundles; i++) {
        const auto *entry = response->federated_bundles[i];
        if (auto err = addBundle(federated, text(entry->key), bytes(entry->value)))
            return fail("federated_bundles[\"" + std::string(text(entry->key)) +
                        "\"]: " + err->message);
    }
    context.bundles.merge(federated);
    return context;
}

std::variant<BundleSet, std::string> parseX509BundlesResponse(std::span<const std::uint8_t> message)
{
    std::unique_ptr<X509BundlesResponse, BundlesResponseFree> response(
        x509_bundles_response__unpack(&cleansingAllocator, message.size(), message.data()));
    if (!response)
        return std::string("the X509BundlesResponse is not a valid protobuf message");
    if (response->n_bundles == 0)
        return std::string("the X509BundlesResponse has no bundles");
    BundleSet bundles;
    for (std::size_t i = 0; i < response->n_bundles; i++) {
        const auto *entry = response->bundles[i];
        if (auto err = addBundle(bundles, text(entry->key), bytes(entry->value)))
            return fail("bundles[\"" + std::string(text(entry->key)) + "\"]: " + err->message);
    }
    return bundles;
}

} // namespace spiffe
