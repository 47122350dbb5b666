// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <string>

namespace spiffe {

// OpenSSL's secure heap: once it is set up, the private parts of keys that
// OpenSSL parses or generates (EC and RSA private values, and the temporaries
// of signing with them) are allocated from one mapping that has guard pages,
// is excluded from core dumps (MADV_DONTDUMP) and is locked in memory when
// RLIMIT_MEMLOCK allows. Call once, before the first key is loaded.
struct SecureHeap {
    bool active = false; // false: keys use the ordinary heap
    bool locked = false; // mlock succeeded (else only guarded and not dumped)
    std::size_t bytes = 0;
    std::string detail;  // why it is not active or not locked
};

// `bytes` is rounded up to a power of two. Calling it again returns the state
// of the first call.
SecureHeap initSecureHeap(std::size_t bytes = 256 * 1024);

// Bytes of the secure heap in use now (0 when it is not active).
std::size_t secureHeapUsed();

} // namespace spiffe
