// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "config.h"
#include "event_loop.h"
#include "id.h"
#include "identity_source.h"
#include "peer_dispatch.h"
#include "peer_frame.h"
#include "peer_set.h"
#include "peer_transport.h"
#include "unique_fd.h"
#include "workload.h"

namespace prometheus {
template <typename T> class Family;
class Counter;
class Gauge;
class Histogram;
} // namespace prometheus
namespace spiffe {
class TlsSession;
}

namespace meshd {

class Metrics;

// The peer channel: mTLS over TCP between meshd nodes, both sides showing
// their X.509-SVIDs. meshd listens on spiffe.listen and dials every node
// of spiffe.peers (redialling with backoff). After the handshake each side
// sends a hello (node name, meshd version, mesh MAC, capabilities); the
// channel then carries framed, versioned messages (peer_frame.h) and
// keepalives. Three layers: the transport (one connection: TLS pump,
// frames), the peer set (whom to dial, backoff) and the dispatch, where
// other services (the tunnel's key exchange) register their messages.
class PeerService : private PeerTransport::Owner {
public:
    using Publish = std::function<void(std::string_view event, nlohmann::json fields)>;

    PeerService(EventLoop &loop, const Config &config, Metrics &metrics,
                IdentitySource identity, Publish publish);
    ~PeerService() override;

    // Where other services plug in: register before start().
    PeerDispatch &dispatch() { return dispatch_; }
    // Adds "tunnel" to each row of `peers`: what the tunnel knows of the
    // peer with that SPIFFE ID (null: nothing).
    using TunnelView = std::function<nlohmann::json(const std::optional<spiffe::SpiffeId> &id)>;
    void setTunnelView(TunnelView view) { tunnelView_ = std::move(view); }

    std::string start(); // binds spiffe.listen; "" or why not
    void stop();
    void registerCommands(CommandRegistry &commands);
    nlohmann::json status() const;
    // The identity's TLS context changed (rotation, expiry).
    void identityChanged();

    // Time between keepalives, and silence after which a peer is dropped.
    static constexpr std::chrono::seconds keepaliveInterval{15};
    static constexpr std::chrono::seconds keepaliveTimeout{45};

private:
    using State = PeerTransport::State;

    // A connection and what the service knows of it beyond the transport.
    struct Conn {
        Conn(EventLoop &loop, PeerTransport::Owner &owner, std::uint64_t id, UniqueFD fd,
             bool outbound, std::string endpoint)
            : link(loop, owner, id, std::move(fd), outbound, std::move(endpoint))
        {
        }
        PeerTransport link;
        std::string host;                // the remote IP, canonical
        std::string source;              // sourcePrefix, for the per-source limits
        bool known = false;              // inbound from a host of spiffe.peers
        std::chrono::steady_clock::time_point accepted{}; // inbound: when
        EventLoop::TimerId deadline = 0; // until up: the handshake timeout
        nlohmann::json hello;            // the peer's
        double since = 0;                // unix time of the last state change
        std::size_t peerIndex = SIZE_MAX; // into peers_ when outbound
        bool repump = false; // a turn is scheduled for bytes OpenSSL holds
    };

    void handshakeDeadline(std::uint64_t id, std::chrono::milliseconds elapsed,
                           std::chrono::milliseconds whole);

    // PeerTransport::Owner
    bool connected(PeerTransport &t) override;
    void tlsUp(PeerTransport &t) override;
    bool frame(PeerTransport &t, const Frame &f) override;
    void connectFailed(PeerTransport &t, const std::string &message) override;
    void handshakeFailed(PeerTransport &t, const std::string &result,
                         const std::string &message) override;
    void ioFailed(PeerTransport &t, const std::string &message) override;
    void closedByPeer(PeerTransport &t) override;
    void badFrame(PeerTransport &t, const std::string &message) override;
    void repumpLater(PeerTransport &t) override;

    Conn &conn(const PeerTransport &t) { return *conns_.at(t.id()); }
    void onAccept();
    void dial(std::size_t peerIndex);
    void pauseAccept();
    Conn *adopt(UniqueFD fd, bool outbound, std::string endpoint, std::size_t peerIndex);
    bool startTls(Conn &c);
    void pump(std::uint64_t id, std::uint32_t events);
    bool onHello(Conn &c, const Frame &f);
    void send(Conn &c, std::uint8_t type, const nlohmann::json &payload);
    bool sendRaw(std::uint64_t id, std::uint8_t type, std::span<const std::uint8_t> payload);
    void close(std::uint64_t id, const std::string &reason, bool failed);
    void keepalive();
    void countError(const std::string &reason);
    PeerInfo info(const Conn &c) const;
    nlohmann::json describe(const Conn *c, const PeerSet::Peer *p) const;
    void updateGauges();

    EventLoop &loop_;
    const Config &config_;
    IdentitySource identity_;
    Publish publish_;
    PeerDispatch dispatch_;
    TunnelView tunnelView_;
    UniqueFD listener_;
    PeerSet peers_;
    TokenBucket handshakeBucket_{PeerLimits::handshakesPerSecond, PeerLimits::handshakeBurst};
    std::map<std::uint64_t, std::unique_ptr<Conn>> conns_;
    std::uint64_t nextId_ = 1;
    EventLoop::TimerId keepaliveTimer_ = 0;
    EventLoop::TimerId resumeTimer_ = 0;
    bool acceptPaused_ = false;
    std::string nodeName_;

    prometheus::Family<prometheus::Counter> &handshakes_;
    prometheus::Histogram &handshakeSeconds_;
    prometheus::Family<prometheus::Counter> &channelErrors_;
    prometheus::Family<prometheus::Gauge> &peerGauge_;
    prometheus::Family<prometheus::Counter> &channelMessages_;
};

} // namespace meshd
