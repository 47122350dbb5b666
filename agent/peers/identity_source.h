// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace spiffe {
class TlsContext;
}

namespace meshd {

// What the peer channel needs of this node's identity, handed over by the
// daemon so that peers/ does not depend on the identity service.
struct IdentitySource {
    // The TLS context for new handshakes: null while there is no valid SVID.
    std::function<std::shared_ptr<const spiffe::TlsContext>()> tlsContext;
    // Why tlsContext() is null.
    std::function<std::string()> unavailableReason;
};

} // namespace meshd
