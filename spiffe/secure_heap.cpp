// SPDX-License-Identifier: GPL-2.0-or-later
#include "secure_heap.h"

#include <mutex>
#include <openssl/crypto.h>

namespace spiffe {

SecureHeap initSecureHeap(std::size_t bytes)
{
    static std::once_flag once;
    static SecureHeap state;
    std::call_once(once, [bytes] {
        std::size_t size = 4096;
        while (size < bytes)
            size <<= 1;
        // 16-byte blocks: an EC private scalar or an RSA prime is one or a few.
        switch (CRYPTO_secure_malloc_init(size, 16)) {
        case 1:
            state = {true, true, size, {}};
            break;
        case 2:
            state = {true, false, size,
                     "mlock or MADV_DONTDUMP failed (RLIMIT_MEMLOCK too small?); keys are "
                     "still kept apart behind guard pages"};
            break;
        default:
            state = {false, false, 0, "OpenSSL could not map a secure heap"};
        }
    });
    return state;
}

std::size_t secureHeapUsed() { return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0; }

} // namespace spiffe
