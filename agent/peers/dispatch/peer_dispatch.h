// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "id.h"

namespace meshd {

// A peer whose channel connection is up, as its clients see it.
struct PeerInfo {
    std::uint64_t conn = 0;            // the channel connection, for send()
    std::optional<spiffe::SpiffeId> id; // proven by its SVID
    std::optional<spiffe::SpiffeId> localId; // what this node showed on the connection
    std::string node;                  // from its hello
    std::string endpoint;              // remote IP:port of the connection
    std::string host;                  // remote IP, canonical
    bool outbound = false;             // this node dialled
    std::vector<std::string> capabilities; // announced in its hello

    bool has(const std::string &capability) const;
};

// Where services plug into the peer channel: each registers the message
// types it handles (16 and up; below are the channel's own) and the
// capability it announces in this node's hello, and is told when peers
// come up and go down. Handlers run on the event loop; a handler may send
// or close, but never blocks.
class PeerDispatch {
public:
    using Handler = std::function<void(const PeerInfo &peer, std::span<const std::uint8_t> payload)>;
    using Up = std::function<void(const PeerInfo &peer)>;
    using Down = std::function<void(const PeerInfo &peer, const std::string &reason)>;
    // Sends one message to a peer: false when the connection is gone.
    using Sender = std::function<bool(std::uint64_t conn, std::uint8_t type,
                                      std::span<const std::uint8_t> payload)>;
    using Closer = std::function<void(std::uint64_t conn, const std::string &reason)>;
    // Keying material of the connection's TLS session: false when it is gone.
    using Exporter = std::function<bool(std::uint64_t conn, std::string_view label,
                                        std::span<const std::uint8_t> context,
                                        std::span<std::uint8_t> out)>;

    static constexpr std::uint8_t firstClientType = 16;

    struct Client {
        std::string capability;                  // announced in the hello ("" for none)
        std::map<std::uint8_t, Handler> handlers; // by message type
        Up up;
        Down down;
    };

    // "" or why not (a type below 16 or taken, a capability taken).
    std::string add(Client client);

    // The capabilities this node announces: the channel's own, then the clients'.
    std::vector<std::string> capabilities() const;

    // Called by the channel.
    void attach(Sender sender, Closer closer, Exporter exporter = {});
    bool deliver(const PeerInfo &peer, std::uint8_t type, std::span<const std::uint8_t> payload) const;
    void peerUp(const PeerInfo &peer) const;
    void peerDown(const PeerInfo &peer, const std::string &reason) const;

    // Called by the clients.
    bool send(std::uint64_t conn, std::uint8_t type, std::span<const std::uint8_t> payload) const;
    void close(std::uint64_t conn, const std::string &reason) const;
    // Secrets bound to the connection's TLS session (SSL_export_keying_material).
    bool exportKeyingMaterial(std::uint64_t conn, std::string_view label,
                              std::span<const std::uint8_t> context,
                              std::span<std::uint8_t> out) const;

private:
    std::vector<Client> clients_;
    std::map<std::uint8_t, std::size_t> byType_; // message type -> client
    Sender sender_;
    Closer closer_;
    Exporter exporter_;
};

} // namespace meshd
