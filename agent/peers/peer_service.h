// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "config.h"
#include "event_loop.h"
#include "id.h"
#include "identity_source.h"
#include "peer_frame.h"
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
// keepalives. The tunnel's key exchange is to use it.
class PeerService {
public:
    using Publish = std::function<void(std::string_view event, nlohmann::json fields)>;

    PeerService(EventLoop &loop, const Config &config, Metrics &metrics,
                IdentitySource identity, Publish publish);
    ~PeerService();

    std::string start(); // binds spiffe.listen; "" or why not
    void stop();
    void registerCommands(CommandRegistry &commands);
    nlohmann::json status() const;
    // The identity's TLS context changed (rotation, expiry).
    void identityChanged();

    // Time between keepalives, and silence after which a peer is dropped.
    static constexpr std::chrono::seconds keepaliveInterval{15};
    static constexpr std::chrono::seconds keepaliveTimeout{45};
    // Limits against peers that flood or hoard connections.
    static constexpr std::size_t maxReadPerTurn = 256 * 1024;
    static constexpr std::size_t maxConnections = 512;
    static constexpr std::size_t maxPending = 64;        // not yet up, in total
    static constexpr std::size_t maxPendingPerHost = 8;  // not yet up, from one address

private:
    enum class State { Connecting, Handshaking, Hello, Up };
    static const char *stateName(State state);

    struct Conn {
        std::uint64_t id;
        UniqueFD fd;
        bool outbound;
        std::string endpoint; // the remote IP:port
        std::string host;     // the remote IP, canonical
        State state = State::Connecting;
        std::unique_ptr<spiffe::TlsSession> tls;
        FrameDecoder decoder;
        std::vector<std::uint8_t> out; // plaintext waiting for TLS
        std::uint32_t events = 0;
        std::chrono::steady_clock::time_point started{};   // of the TLS handshake
        double handshakeSeconds = 0;
        bool repump = false; // a turn is scheduled for bytes OpenSSL holds
        std::chrono::steady_clock::time_point lastRx{}, lastTx{};
        EventLoop::TimerId deadline = 0; // until up: the handshake timeout
        std::optional<spiffe::SpiffeId> peerId;
        std::chrono::system_clock::time_point peerNotAfter{}; // of the peer's SVID
        nlohmann::json hello;  // the peer's
        double since = 0;      // unix time of the last state change
        std::uint64_t messagesIn = 0, messagesOut = 0, bytesIn = 0, bytesOut = 0;
        std::size_t peerIndex = SIZE_MAX; // into peers_ when outbound
    };
    struct Peer {
        Peer(SpiffePeer c, spiffe::Backoff b) : config(std::move(c)), backoff(std::move(b)) {}
        SpiffePeer config;
        std::string host; // canonical IP of config.address
        std::optional<spiffe::SpiffeId> expected;
        std::uint64_t conn = 0; // 0: none
        spiffe::Backoff backoff;
        EventLoop::TimerId retry = 0;
        std::chrono::steady_clock::time_point retryAt{};
        std::string lastError;
        double since = 0;
        std::uint64_t handshakesOk = 0, handshakesFailed = 0;
        std::uint64_t messagesIn = 0, messagesOut = 0, bytesIn = 0, bytesOut = 0;
        nlohmann::json lastHello; // of the last connection that came up
        std::optional<spiffe::SpiffeId> lastId;
    };

    void onAccept();
    void dial(std::size_t peerIndex);
    void scheduleDial(std::size_t peerIndex, bool failed);
    void redialFrom(const std::string &host);
    void pauseAccept();
    Conn *adopt(UniqueFD fd, bool outbound, std::string endpoint, std::size_t peerIndex);
    bool startTls(Conn &c);
    void pump(std::uint64_t id, std::uint32_t events);
    bool advance(Conn &c, std::uint32_t events); // false: closed
    bool flush(Conn &c);
    bool receive(Conn &c);
    bool onFrame(Conn &c, const Frame &f);
    void send(Conn &c, std::uint8_t type, const nlohmann::json &payload);
    void sendHello(Conn &c);
    void updateEvents(Conn &c, std::uint32_t want);
    void ioFailed(Conn &c, const std::string &message);
    void handshakeFailed(Conn &c, const std::string &result, const std::string &message);
    void close(std::uint64_t id, const std::string &reason, bool failed);
    void keepalive();
    void countError(const std::string &reason);
    nlohmann::json describe(const Conn *c, const Peer *p) const;
    nlohmann::json helloPayload() const;
    void updateGauges();

    EventLoop &loop_;
    const Config &config_;
    IdentitySource identity_;
    Publish publish_;
    UniqueFD listener_;
    std::vector<Peer> peers_;
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
