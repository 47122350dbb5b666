// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

#include "commands.h"
#include "config.h"
#include "event_loop.h"
#include "key_schedule.h"
#include "key_slots.h"
#include "peer_dispatch.h"
#include "session_table.h"
#include "tunnel_messages.h"

namespace prometheus {
template <typename T> class Family;
class Counter;
class Gauge;
} // namespace prometheus

namespace meshd {

// Drop reasons of the data plane (forward::dropReasonCount, checked in the .cpp).
inline constexpr std::size_t fwd_drop_reasons = 13;

class Metrics;
namespace forward {
class Engine;
}

// The tunnel: batman-adv between nodes over encrypted UDP. The data plane
// (agent/forward) moves the packets on its own threads; this service runs
// the key exchange over the peer channel (a client of its dispatch), keeps
// one session per pair of SPIFFE IDs, rekeys, follows roaming peers, and
// publishes the peer table to the workers. It reports in status, in each
// peer's row of `peers`, in metrics and in tunnel_* events.
class TunnelService {
public:
    using Publish = std::function<void(std::string_view event, nlohmann::json fields)>;

    TunnelService(EventLoop &loop, const Config &config, Metrics &metrics, PeerDispatch &dispatch,
                  Publish publish);
    ~TunnelService();

    // Creates the interface and sockets and starts the workers; "" or why not.
    std::string start();
    void stop();
    nlohmann::json status() const;
    // The tunnel of one peer-channel peer, for its row of `peers` (null: none).
    nlohmann::json describePeer(const std::optional<spiffe::SpiffeId> &id) const;

    // How long an offer or accept may wait for its answer, and how long the
    // previous receive key stays usable after a rekey.
    static constexpr std::chrono::seconds handshakeTimeout{10};
    static constexpr std::chrono::seconds keyGrace{10};
    // The MTU for tunnel.mtu 0: a 1500-byte underlay over IPv6 minus the
    // overhead (IPv6 40, UDP 8, header 16, tag 16, inner Ethernet 14).
    static constexpr std::uint32_t defaultMtu = 1406;
    // A peer may start a new session at most this often (an authenticated
    // peer that floods offers cannot make the workers churn).
    static constexpr std::chrono::seconds newSessionInterval{1};

private:
    enum class State { Offered, Accepted, Up };
    static const char *stateName(State s);

    // One tunnel session with one peer (by SPIFFE ID).
    struct Link {
        std::string id;    // the peer's SPIFFE ID
        std::string node;  // from its hello
        std::uint64_t conn = 0; // the peer channel connection carrying the key exchange
        bool initiator = false;
        forward::Role role = forward::Role::Client; // this node's TLS role on conn
        std::string clientId, serverId;              // TLS client and server on conn
        std::string host;  // the peer's IP, from the channel
        State state = State::Offered;
        std::uint64_t epoch = 0;        // keys installed both ways
        std::uint64_t pendingEpoch = 0; // offered or accepted, not yet confirmed
        std::chrono::steady_clock::time_point pendingSince{};
        forward::KxKeyPair pendingKx;            // initiator: until the accept
        std::unique_ptr<forward::TxKey> pendingTx; // responder: until the confirm
        std::uint32_t localIndex = 0;
        std::unique_ptr<forward::Session> session;
        forward::Cipher cipher = forward::Cipher::ChaCha20Poly1305;
        sockaddr_storage endpoint{};
        socklen_t endpointLen = 0;
        tunnel::Mac mac{};
        std::uint32_t slot = 0;
        double since = 0, lastRekey = 0;
        std::uint64_t rekeys = 0;
        std::chrono::steady_clock::time_point created{};
        std::chrono::steady_clock::time_point nextRekey{};
        std::string lastError;
        // What the metrics have been told of this slot so far.
        std::uint64_t seenRxPackets = 0, seenTxPackets = 0, seenRxBytes = 0, seenTxBytes = 0;
        // The slot's totals when this link took it (slots are reused).
        std::uint64_t baseRxPackets = 0, baseTxPackets = 0, baseRxBytes = 0, baseTxBytes = 0;
        std::array<std::uint64_t, fwd_drop_reasons> baseDrops{};
    };

    void onUp(const PeerInfo &peer);
    void onDown(const PeerInfo &peer, const std::string &reason);
    void onOffer(const PeerInfo &peer, std::span<const std::uint8_t> payload);
    void onAccept(const PeerInfo &peer, std::span<const std::uint8_t> payload);
    void onConfirm(const PeerInfo &peer, std::span<const std::uint8_t> payload);
    void onClose(const PeerInfo &peer, std::span<const std::uint8_t> payload);
    void established(Link &link);
    std::string openStatusSocket();
    void closeStatusSocket();
    void onStatusClient();
    nlohmann::json fastdStatus() const;

    bool initiatorFor(const PeerInfo &peer) const;
    void maybeInitiate(const std::string &peerId);
    void offer(Link &link, std::uint64_t epoch);
    bool exporterSecret(const Link &link, std::uint64_t epoch, std::uint8_t *out);
    std::unique_ptr<Link> newLink(const PeerInfo &peer);
    void setEndpoint(Link &link, std::uint16_t port);
    void teardown(const std::string &peerId, const std::string &reason, bool tellPeer);
    void handshakeFailed(const PeerInfo &peer, const std::string &reason, const std::string &message);
    void retire(forward::KeySlots::Retired &retired);
    void republish();
    void tick();
    void onEngineEvents();
    void updateMetrics();
    std::uint32_t freshIndex() const;
    std::uint32_t freshSlot() const;
    std::uint64_t nowNs() const;
    void send(std::uint64_t conn, std::uint8_t type, const std::vector<std::uint8_t> &payload);

    EventLoop &loop_;
    const Config &config_;
    PeerDispatch &dispatch_;
    Publish publish_;
    std::unique_ptr<forward::Engine> engine_;
    forward::CipherChoice choice_ = forward::CipherChoice::Auto;
    bool hasAes_ = false;
    unsigned workers_ = 1;
    std::uint32_t mtu_ = defaultMtu;
    std::string io_;
    std::string problem_;        // why the tunnel is not running
    std::map<std::uint64_t, PeerInfo> channel_; // up channel connections that announce the tunnel
    std::map<std::string, std::unique_ptr<Link>> links_; // by peer SPIFFE ID
    EventLoop::TimerId tickTimer_ = 0;
    int statusFd_ = -1; // the fastd-compatible status socket, or -1
    std::chrono::steady_clock::time_point started_{};
    bool watchingEvents_ = false;
    std::uint64_t seenDrops_[16] = {};

    prometheus::Family<prometheus::Gauge> &peerGauge_;
    prometheus::Family<prometheus::Counter> &packets_;
    prometheus::Family<prometheus::Counter> &bytes_;
    prometheus::Family<prometheus::Counter> &drops_;
    prometheus::Family<prometheus::Gauge> &ringOccupancy_;
    prometheus::Family<prometheus::Counter> &rekeysTotal_;
    prometheus::Family<prometheus::Counter> &handshakeFailures_;
    prometheus::Family<prometheus::Counter> &messageErrors_;
};

} // namespace meshd
