// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "id.h"
#include "svid.h"

namespace spiffe
{

// A private key. Freed with EVP_PKEY_free, which clears the key's memory
// (OpenSSL's key types cleanse their secrets when freed).
struct PkeyFree {
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
using PrivateKey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// One X.509-SVID of this workload with its private key, immutable once
// built. Shared (shared_ptr<const Svid>) between the identity state and the
// TLS contexts made from it, so that a rotation never frees a key that a
// handshake in progress still uses.
struct Svid {
    SpiffeId id;
    Certificates chain; // leaf first, then intermediates
    PrivateKey key;     // matches the leaf's public key
    std::string hint;   // the Workload API's optional hint
    std::chrono::system_clock::time_point notBefore;
    std::chrono::system_clock::time_point notAfter; // the leaf's NotAfter
};

// One full state of the Workload API (every response is the whole state).
struct X509Context {
    std::vector<std::shared_ptr<const Svid>> svids; // never empty; svids[0] is the default
    BundleSet bundles; // the SVIDs' own trust domain(s) and the federated ones
};

} // namespace spiffe
