// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "authorize.h"
#include "event_loop.h"
#include "id.h"
#include "peer_frame.h"
#include "unique_fd.h"

namespace spiffe {
class TlsContext;
class TlsSession;
} // namespace spiffe

namespace meshd {

// One connection of the peer channel: the TCP socket, the mTLS session over
// it, and the frames inside. It pumps TLS in both directions when its fd is
// ready and hands complete frames to its owner; every way it can end is
// reported to the owner, who closes it.
class PeerTransport {
public:
    enum class State { Connecting, Handshaking, Hello, Up };
    static const char *stateName(State state);

    // At most this much is read per turn, so one peer cannot hold the loop.
    static constexpr std::size_t maxReadPerTurn = 256 * 1024;

    // What the connection asks of its owner. Every call that returns false
    // has closed (and destroyed) the connection: the transport returns at once.
    class Owner {
    public:
        virtual ~Owner() = default;
        // TCP is connected: start TLS (startTls()), or fail and close.
        virtual bool connected(PeerTransport &t) = 0;
        // TLS is up: the owner sends its hello.
        virtual void tlsUp(PeerTransport &t) = 0;
        virtual bool frame(PeerTransport &t, const Frame &f) = 0;
        // Failures, each of which closes the connection:
        //   connect   TCP never connected (message)
        //   handshake TLS or the peer's SVID failed (result: a handshake metric label)
        //   io        read/write failed, or the peer closed (message)
        //   frame     the byte stream broke the framing
        virtual void connectFailed(PeerTransport &t, const std::string &message) = 0;
        virtual void handshakeFailed(PeerTransport &t, const std::string &result,
                                     const std::string &message) = 0;
        virtual void ioFailed(PeerTransport &t, const std::string &message) = 0;
        virtual void closedByPeer(PeerTransport &t) = 0;
        virtual void badFrame(PeerTransport &t, const std::string &message) = 0;
        // OpenSSL holds decrypted bytes that raise no epoll event: pump again
        // on a later turn.
        virtual void repumpLater(PeerTransport &t) = 0;
    };

    PeerTransport(EventLoop &loop, Owner &owner, std::uint64_t id, UniqueFD fd, bool outbound,
                  std::string endpoint);
    ~PeerTransport();
    PeerTransport(const PeerTransport &) = delete;
    PeerTransport &operator=(const PeerTransport &) = delete;

    // Watches the fd on the loop (EPOLLOUT first for a dial); -errno. The
    // owner's callback finds the connection by id and calls advance().
    int watch(std::function<void(std::uint32_t events)> ready);
    void startTls(std::shared_ptr<const spiffe::TlsContext> context,
                  std::optional<spiffe::Authorizer> expected);
    // Runs the connection as far as it goes; false when it was closed.
    bool advance(std::uint32_t events);
    // Queues one frame for the peer (sent on the next flush).
    void queue(std::uint8_t type, std::span<const std::uint8_t> payload);
    // Writes what is queued as far as TLS takes it; false when it was closed.
    bool flush();
    // Makes sure the loop wakes for writing (after queue() outside advance()).
    void wantWrite();
    // Ends TLS (close_notify) and stops watching the fd.
    void shutdown();

    std::uint64_t id() const { return id_; }
    bool outbound() const { return outbound_; }
    const std::string &endpoint() const { return endpoint_; }
    State state() const { return state_; }
    // Still waiting for the first whole TLS message of the peer (a server
    // that has no ClientHello yet): the connection cost its sender nothing.
    bool silent() const;
    // Once TLS is up: whether `context` would still accept the peer (see
    // spiffe::TlsSession::rejudge); false before, and `why` says why not.
    bool stillTrusted(const spiffe::TlsContext &context, std::string *why) const;
    void setUp() { state_ = State::Up; }
    double handshakeSeconds() const { return handshakeSeconds_; }
    const std::optional<spiffe::SpiffeId> &peerId() const { return peerId_; }
    std::chrono::system_clock::time_point peerNotAfter() const { return peerNotAfter_; }
    std::chrono::steady_clock::time_point lastRx() const { return lastRx_; }
    std::chrono::steady_clock::time_point lastTx() const { return lastTx_; }
    void touchTx(std::chrono::steady_clock::time_point t) { lastTx_ = t; }

    // The TLS session's exported keying material (see TlsSession); false
    // before TLS is up.
    bool exportKeyingMaterial(std::string_view label, std::span<const std::uint8_t> context,
                              std::span<std::uint8_t> out) const;
    // The SPIFFE ID this node showed on the connection (once TLS is up).
    std::optional<spiffe::SpiffeId> localId() const;

    std::uint64_t messagesIn = 0, messagesOut = 0, bytesIn = 0, bytesOut = 0;

private:
    bool receive();
    void updateEvents(std::uint32_t want);

    EventLoop &loop_;
    Owner &owner_;
    std::uint64_t id_;
    UniqueFD fd_;
    bool outbound_;
    std::string endpoint_; // the remote IP:port
    bool watched_ = false;
    State state_ = State::Connecting;
    std::unique_ptr<spiffe::TlsSession> tls_;
    FrameDecoder decoder_;
    std::vector<std::uint8_t> out_; // plaintext waiting for TLS
    std::uint32_t events_ = 0;
    std::chrono::steady_clock::time_point started_{}; // of the TLS handshake
    double handshakeSeconds_ = 0;
    std::chrono::steady_clock::time_point lastRx_{}, lastTx_{};
    std::optional<spiffe::SpiffeId> peerId_;
    std::chrono::system_clock::time_point peerNotAfter_{}; // of the peer's SVID
};

} // namespace meshd
