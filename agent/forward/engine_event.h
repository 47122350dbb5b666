// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <sys/socket.h>

namespace meshd::forward {

// What a worker tells the control plane (Engine::drainEvents).
struct EngineEvent {
    enum class Kind : std::uint8_t {
        // A datagram that authenticated came from `from`, not the peer's
        // endpoint: the peer roamed (or NAT rebinding). The control plane
        // republishes the table with the new endpoint if it agrees.
        EndpointChanged,
        // The send key of the session is used up (TxKey::reserve failed):
        // rekey now. `from` is empty.
        KeyExhausted,
    } kind;
    std::uint32_t localIndex; // the session's receiver index
    sockaddr_storage from;
    socklen_t fromLen;
};

} // namespace meshd::forward
