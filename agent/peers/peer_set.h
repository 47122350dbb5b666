// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "event_loop.h"
#include "id.h"
#include "workload.h"

namespace meshd {

// The nodes of spiffe.peers: whom to dial, when to dial again (backoff),
// and what is remembered of each across its connections.
class PeerSet {
public:
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
    // Opens a connection to peer `index` (called from the retry timers).
    using Dial = std::function<void(std::size_t index)>;

    PeerSet(EventLoop &loop, const Config::Spiffe &config, Dial dial);
    ~PeerSet();

    std::size_t size() const { return peers_.size(); }
    Peer &operator[](std::size_t index) { return peers_[index]; }
    const Peer &operator[](std::size_t index) const { return peers_[index]; }
    auto begin() const { return peers_.begin(); }
    auto end() const { return peers_.end(); }

    // Dials again after the retry interval, or after the backoff when the
    // last attempt failed. Nothing when a retry is already due.
    void scheduleDial(std::size_t index, bool failed);
    // A node we failed to reach just reached us: it is back, so the dial to
    // it need not wait out its backoff.
    void redialFrom(const std::string &host);
    // Whether `host` (canonical) is the address of one of spiffe.peers.
    bool isPeerHost(const std::string &host) const;
    void cancelRetries();

private:
    EventLoop &loop_;
    const Config::Spiffe &config_;
    Dial dial_;
    std::vector<Peer> peers_;
};

// Limits against peers that flood or hoard connections. A TCP connection
// costs an attacker little; a TLS handshake costs this node a signature. So
// connections that have not finished their handshake are capped in total and
// per source (an IPv4 address or an IPv6 /64), one that sends no ClientHello
// soon is closed, new handshakes from sources that are not configured peers
// are rate-limited, and when the table is full a newcomer takes the place of
// the oldest connection that has sent nothing yet.
struct PeerLimits {
    static constexpr std::size_t maxConnections = 512;
    static constexpr std::size_t maxPending = 64;         // not yet up, in total
    static constexpr std::size_t maxPendingPerSource = 4; // not yet up, from one source
    static constexpr std::chrono::milliseconds clientHelloTimeout{2000};
    static constexpr double handshakesPerSecond = 32; // from unknown sources
    static constexpr double handshakeBurst = 64;

    // A connection that has not finished its handshake.
    struct Pending {
        std::uint64_t id = 0;
        std::string source; // sourcePrefix of the remote address
        bool inbound = false;
        bool silent = false; // nothing received yet (no ClientHello)
        bool known = false;  // from a host of spiffe.peers
        std::chrono::steady_clock::time_point since{};
    };
    struct Verdict {
        const char *refused = nullptr; // what the newcomer would exceed; null: admit it
        std::uint64_t evict = 0;       // admit it in place of this connection (0: none)
    };

    // Whether an inbound connection from `source` may start a handshake,
    // given the `connections` open in all and those of them still `pending`.
    static Verdict admit(const std::vector<Pending> &pending, std::size_t connections,
                         const std::string &source, bool known);
};

// A token bucket: `rate` tokens a second, at most `burst` saved up.
class TokenBucket
{
public:
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
    bool take(std::chrono::steady_clock::time_point now);

private:
    double rate_, burst_, tokens_;
    std::chrono::steady_clock::time_point last_{};
};

} // namespace meshd
