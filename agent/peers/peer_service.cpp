// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_service.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "json_depth.h"
#include "log.h"
#include "peer_hello.h"
#include "metrics.h"
#include "tls.h"

namespace meshd {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char *handshakeResults[] = {
    "ok",      "no_certificate", "untrusted", "expired",     "invalid_svid",
    "unauthorized", "tls_error", "timeout",   "no_identity",
};
constexpr const char *channelErrorReasons[] = {
    "bad_frame", "bad_hello",         "unknown_type", "keepalive_timeout", "io_error",
    "closed",    "peer_svid_expired", "over_limit",   "peer_untrusted",
};

} // namespace

PeerService::PeerService(EventLoop &loop, const Config &config, Metrics &metrics,
                         IdentitySource identity, Publish publish)
    : loop_(loop), config_(config), identity_(std::move(identity)), publish_(std::move(publish)),
      peers_(loop, config.spiffe,
             [this](std::size_t index) {
                 dial(index);
                 updateGauges();
             }),
      handshakes_(prometheus::BuildCounter()
                      .Name("meshd_mtls_handshakes_total")
                      .Help("mTLS handshakes of the peer channel by result: ok, or why the "
                            "peer (or this node) was refused.")
                      .Register(metrics.registry())),
      handshakeSeconds_(prometheus::BuildHistogram()
                            .Name("meshd_mtls_handshake_duration_seconds")
                            .Help("Time of successful mTLS handshakes of the peer channel, "
                                  "from the first TLS message to the peer's SVID accepted.")
                            .Register(metrics.registry())
                            .Add({}, prometheus::Histogram::BucketBoundaries{
                                         0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 1})),
      channelErrors_(prometheus::BuildCounter()
                         .Name("meshd_peer_channel_errors_total")
                         .Help("Peer channel problems after the handshake: connections closed "
                               "(closed without a goodbye, io_error, bad_frame, bad_hello, "
                               "keepalive_timeout, peer_svid_expired), frames of unknown "
                               "types ignored (unknown_type) and connections refused over the "
                               "limits (over_limit).")
                         .Register(metrics.registry())),
      peerGauge_(prometheus::BuildGauge()
                     .Name("meshd_peer_channel_peers")
                     .Help("Peer channel connections by state.")
                     .Register(metrics.registry())),
      channelMessages_(prometheus::BuildCounter()
                           .Name("meshd_peer_channel_messages_total")
                           .Help("Frames sent and received on the peer channel.")
                           .Register(metrics.registry()))
{
    for (const char *r : handshakeResults)
        handshakes_.Add({{"result", r}});
    for (const char *r : channelErrorReasons)
        channelErrors_.Add({{"reason", r}});
    for (const char *d : {"in", "out"})
        channelMessages_.Add({{"direction", d}});
    nodeName_ = config_.spiffe.nodeName;
    if (nodeName_.empty()) {
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        nodeName_ = printable(host, 64) ? host : "meshd";
    }
    dispatch_.attach(
        [this](std::uint64_t id, std::uint8_t type, std::span<const std::uint8_t> payload) {
            return sendRaw(id, type, payload);
        },
        [this](std::uint64_t id, const std::string &reason) { close(id, reason, false); },
        [this](std::uint64_t id, std::string_view label, std::span<const std::uint8_t> context,
               std::span<std::uint8_t> out) {
            auto it = conns_.find(id);
            return it != conns_.end() && it->second->link.state() == State::Up &&
                   it->second->link.exportKeyingMaterial(label, context, out);
        });
}

PeerService::~PeerService() { stop(); }

std::string PeerService::start()
{
    if (!config_.spiffe.listen.empty()) {
        sockaddr_storage ss;
        socklen_t len = 0;
        if (!toSockaddr(config_.spiffe.listen, ss, len))
            return "spiffe.listen: not an address";
        listener_.reset(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!listener_.isValid())
            return std::string("spiffe.listen: socket: ") + strerror(errno);
        int one = 1;
        setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(listener_.get(), reinterpret_cast<sockaddr *>(&ss), len) < 0 ||
            listen(listener_.get(), 64) < 0) {
            std::string err = std::string("spiffe.listen: cannot listen on ") +
                              config_.spiffe.listen + ": " + strerror(errno);
            listener_.reset();
            return err;
        }
        if (int err = loop_.addFd(listener_.get(), EPOLLIN, [this](std::uint32_t) { onAccept(); },
                                  "peer-listen");
            err < 0) {
            listener_.reset();
            return std::string("spiffe.listen: ") + strerror(-err);
        }
        LOG(Info, "peers", "peer channel listening on %s", config_.spiffe.listen.c_str());
    }
    for (std::size_t i = 0; i < peers_.size(); ++i)
        dial(i);
    keepaliveTimer_ = loop_.addTimer(std::chrono::seconds(1), [this] { keepalive(); });
    updateGauges();
    return {};
}

void PeerService::stop()
{
    if (keepaliveTimer_) { // also tells close() that meshd is stopping
        loop_.cancelTimer(keepaliveTimer_);
        keepaliveTimer_ = 0;
    }
    std::vector<std::uint64_t> ids;
    for (const auto &[id, c] : conns_)
        ids.push_back(id);
    for (auto id : ids) {
        if (auto it = conns_.find(id); it != conns_.end() && it->second->link.state() == State::Up) {
            send(*it->second, frame::Goodbye, {{"reason", "shutting down"}});
            it->second->link.flush(); // best effort: the socket does not block
        }
        close(id, "meshd is stopping", false);
    }
    peers_.cancelRetries();
    if (resumeTimer_) {
        loop_.cancelTimer(resumeTimer_);
        resumeTimer_ = 0;
    }
    if (listener_.isValid()) {
        loop_.removeFd(listener_.get());
        listener_.reset();
    }
}

void PeerService::pauseAccept()
{
    if (acceptPaused_ || !listener_.isValid())
        return;
    acceptPaused_ = true;
    loop_.modifyFd(listener_.get(), 0);
    resumeTimer_ = loop_.addTimer(std::chrono::milliseconds(100), [this] {
        resumeTimer_ = 0;
        acceptPaused_ = false;
        if (listener_.isValid())
            loop_.modifyFd(listener_.get(), EPOLLIN);
    });
}

void PeerService::countError(const std::string &reason)
{
    channelErrors_.Add({{"reason", reason}}).Increment();
}

void PeerService::onAccept()
{
    for (int i = 0; i < 16; ++i) {
        sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        UniqueFD fd(accept4(listener_.get(), reinterpret_cast<sockaddr *>(&ss), &len,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.isValid()) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The connection stays in the backlog and the listener stays
                // readable: stop listening for a moment instead of spinning.
                Log::writeLimited("peer-accept", LogLevel::Warning, "peers",
                                  "accept: %s; not accepting peers for 100 ms", strerror(errno));
                pauseAccept();
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                Log::writeLimited("peer-accept", LogLevel::Warning, "peers", "accept: %s",
                                  strerror(errno));
            }
            return;
        }
        std::string endpoint = sockaddrString(ss);
        std::string host = hostString(ss);
        std::string source = sourcePrefix(ss);
        bool known = peers_.isPeerHost(host);
        auto now = SteadyClock::now();
        std::vector<PeerLimits::Pending> pending;
        for (const auto &[id, other] : conns_)
            if (other->link.state() != State::Up)
                pending.push_back({id, other->source, !other->link.outbound(), other->link.silent(),
                                   other->known, other->accepted});
        PeerLimits::Verdict verdict = PeerLimits::admit(pending, conns_.size(), source, known);
        if (!verdict.refused && !known && !handshakeBucket_.take(now))
            verdict.refused = "handshakes a second from sources that are not configured peers";
        if (verdict.refused) {
            countError("over_limit");
            Log::writeLimited("peer-limit", LogLevel::Warning, "peers",
                              "refusing %s: too many peer %s", endpoint.c_str(), verdict.refused);
            continue; // closes it
        }
        if (verdict.evict) {
            countError("over_limit");
            Log::writeLimited("peer-evict", LogLevel::Warning, "peers",
                              "handshake table full: closing %s, which sent nothing yet, for %s",
                              conns_.at(verdict.evict)->link.endpoint().c_str(), endpoint.c_str());
            close(verdict.evict, "closed for a newer connection: the handshake table is full",
                  false);
        }
        Conn *c = adopt(std::move(fd), false, endpoint, SIZE_MAX);
        if (c) {
            c->host = host;
            c->source = source;
            c->known = known;
            c->accepted = now;
        }
        if (c && startTls(*c))
            pump(c->link.id(), 0);
    }
}

PeerService::Conn *PeerService::adopt(UniqueFD fd, bool outbound, std::string endpoint,
                                      std::size_t peerIndex)
{
    std::uint64_t id = nextId_++;
    PeerTransport::Owner &owner = *this;
    auto c = std::make_unique<Conn>(loop_, owner, id, std::move(fd), outbound, std::move(endpoint));
    c->peerIndex = peerIndex;
    c->since = unixNow();
    if (int err = c->link.watch([this, id](std::uint32_t ev) { pump(id, ev); }); err < 0) {
        Log::writeLimited("peer-watch", LogLevel::Warning, "peers", "cannot watch %s: %s",
                          c->link.endpoint().c_str(), strerror(-err));
        return nullptr;
    }
    // An inbound connection first has to send its ClientHello, soon; then
    // the whole handshake has spiffe.handshake_timeout_ms.
    auto whole = std::chrono::milliseconds(config_.spiffe.handshakeTimeoutMs);
    auto first = outbound ? whole : std::min(whole, PeerLimits::clientHelloTimeout);
    c->deadline =
        loop_.addTimer(first, [this, id, first, whole] { handshakeDeadline(id, first, whole); });
    Conn *raw = c.get();
    conns_.emplace(id, std::move(c));
    if (outbound)
        peers_[peerIndex].conn = id;
    updateGauges();
    return raw;
}

void PeerService::handshakeDeadline(std::uint64_t id, std::chrono::milliseconds elapsed,
                                    std::chrono::milliseconds whole)
{
    auto it = conns_.find(id);
    if (it == conns_.end())
        return;
    Conn &c = *it->second;
    c.deadline = 0;
    if (elapsed < whole && !c.link.silent()) {
        // The ClientHello came in time: the rest of the handshake's time.
        c.deadline = loop_.addTimer(whole - elapsed,
                                    [this, id, whole] { handshakeDeadline(id, whole, whole); });
        return;
    }
    handshakeFailed(c.link, "timeout",
                    c.link.silent() && !c.link.outbound()
                        ? "no ClientHello within " + std::to_string(elapsed.count()) + " ms"
                        : "no handshake within " + std::to_string(whole.count()) + " ms");
}

void PeerService::dial(std::size_t index)
{
    PeerSet::Peer &p = peers_[index];
    p.retry = 0;
    if (p.conn != 0)
        return; // already connected or connecting (a stale retry)
    if (!identity_.tlsContext()) {
        // Nothing to show the peer yet: wait for the identity (identityChanged()).
        p.lastError = "waiting for this node's SVID: " + identity_.unavailableReason();
        return;
    }
    sockaddr_storage ss;
    socklen_t len = 0;
    toSockaddr(p.config.address, ss, len); // validated with the config
    UniqueFD fd(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.isValid() ||
        (::connect(fd.get(), reinterpret_cast<sockaddr *>(&ss), len) < 0 && errno != EINPROGRESS)) {
        p.lastError = std::string("connect: ") + strerror(errno);
        peers_.scheduleDial(index, true);
        return;
    }
    if (Conn *c = adopt(std::move(fd), true, p.config.address, index)) {
        c->host = p.host;
    } else {
        p.lastError = "cannot watch the connection";
        peers_.scheduleDial(index, true);
    }
}

void PeerService::identityChanged()
{
    if (!identity_.tlsContext()) {
        // The SVID expired: what was authenticated with it ends too.
        std::vector<std::uint64_t> ids;
        for (const auto &[id, c] : conns_)
            ids.push_back(id);
        for (auto id : ids)
            close(id, "this node's SVID expired", false);
        return;
    }
    // New bundles (a CA removed, a trust domain no longer federated) or a
    // new authorizer: the peers already up are judged again, as a new
    // handshake would judge them now.
    auto ctx = identity_.tlsContext();
    std::vector<std::pair<std::uint64_t, std::string>> refused;
    for (const auto &[id, c] : conns_) {
        if (c->link.state() != State::Up && c->link.state() != State::Hello)
            continue;
        std::string why;
        if (!c->link.stillTrusted(*ctx, &why))
            refused.emplace_back(id, why);
    }
    for (const auto &[id, why] : refused) {
        countError("peer_untrusted");
        LOG(Warning, "peers",
            "closing the session with %s: not trusted any more after the "
            "bundles or the authorizer changed: %s",
            conns_.at(id)->link.endpoint().c_str(), why.c_str());
        close(id, "not trusted any more: " + why, true);
    }
    for (std::size_t i = 0; i < peers_.size(); ++i)
        if (peers_[i].conn == 0 && peers_[i].retry == 0)
            dial(i);
}

bool PeerService::startTls(Conn &c)
{
    auto ctx = identity_.tlsContext();
    if (!ctx) {
        handshakeFailed(c.link, "no_identity",
                        "this node has no valid SVID: " + identity_.unavailableReason());
        return false;
    }
    std::optional<spiffe::Authorizer> expected;
    if (c.link.outbound() && peers_[c.peerIndex].expected)
        expected = spiffe::authorizeId(*peers_[c.peerIndex].expected);
    c.link.startTls(std::move(ctx), std::move(expected));
    return true;
}

void PeerService::pump(std::uint64_t id, std::uint32_t events)
{
    auto it = conns_.find(id);
    if (it == conns_.end())
        return;
    try {
        it->second->link.advance(events);
    } catch (const std::exception &e) {
        if (conns_.count(id))
            close(id, std::string("internal error: ") + e.what(), true);
    }
    updateGauges(); // states change inside
}

bool PeerService::connected(PeerTransport &t) { return startTls(conn(t)); }

void PeerService::tlsUp(PeerTransport &t)
{
    Conn &c = conn(t);
    c.since = unixNow();
    send(c, frame::Hello,
         makeHello(nodeName_, meshMac(config_.mesh.interface), dispatch_.capabilities()));
}

void PeerService::connectFailed(PeerTransport &t, const std::string &message)
{
    close(t.id(), message, true);
}

void PeerService::badFrame(PeerTransport &t, const std::string &message)
{
    countError("bad_frame");
    close(t.id(), "bad frame: " + message, true);
}

void PeerService::closedByPeer(PeerTransport &t)
{
    if (t.state() == State::Hello) {
        handshakeFailed(t, "tls_error", "the peer closed the connection before its hello");
        return;
    }
    countError("closed");
    close(t.id(), "closed by the peer", false);
}

void PeerService::repumpLater(PeerTransport &t)
{
    Conn &c = conn(t);
    if (c.repump)
        return;
    c.repump = true;
    std::uint64_t id = t.id();
    loop_.addTimer(std::chrono::milliseconds(0), [this, id] {
        auto it = conns_.find(id);
        if (it == conns_.end())
            return;
        it->second->repump = false;
        pump(id, EPOLLIN);
    });
}

bool PeerService::frame(PeerTransport &t, const Frame &f)
{
    Conn &c = conn(t);
    channelMessages_.Add({{"direction", "in"}}).Increment();
    switch (f.type) {
    case frame::Hello:
        return onHello(c, f);
    case frame::Keepalive:
        return true;
    case frame::Goodbye: {
        std::string_view text(reinterpret_cast<const char *>(f.payload.data()), f.payload.size());
        json bye = jsonDepthWithin(text) ? json::parse(text, nullptr, false) : json();
        std::string reason = !bye.is_discarded() && bye.is_object() && bye.contains("reason") &&
                                     bye["reason"].is_string()
                                 ? bye["reason"].get<std::string>().substr(0, 200)
                                 : "no reason";
        for (char &ch : reason) // it reaches logs and terminals
            if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e)
                ch = '?';
        close(t.id(), "the peer said goodbye: " + reason, false);
        return false;
    }
    default: {
        // A client's message, only once the peer's hello made it a peer.
        std::uint64_t id = t.id();
        if (t.state() != State::Up || !dispatch_.deliver(info(c), f.type, f.payload)) {
            countError("unknown_type");
            return true;
        }
        return conns_.count(id) > 0; // the handler may have closed it
    }
    }
}

bool PeerService::onHello(Conn &c, const Frame &f)
{
    std::string_view text(reinterpret_cast<const char *>(f.payload.data()), f.payload.size());
    const bool shallow = jsonDepthWithin(text);
    json hello = shallow ? json::parse(text, nullptr, false) : json();
    std::string problem = !shallow ? "the hello nests deeper than " + std::to_string(maxJsonDepth) +
                                         " levels"
                          : hello.is_discarded() ? "the hello is not JSON"
                                                 : checkHello(hello);
    if (!problem.empty()) {
        countError("bad_hello");
        close(c.link.id(), problem, true);
        return false;
    }
    bool first = c.link.state() != State::Up;
    if (first) {
        handshakes_.Add({{"result", "ok"}}).Increment();
        handshakeSeconds_.Observe(c.link.handshakeSeconds());
        if (c.link.outbound()) {
            ++peers_[c.peerIndex].handshakesOk;
            peers_[c.peerIndex].lastId = c.link.peerId();
        }
    }
    hello = helloFields(hello);
    c.hello = hello;
    c.link.setUp();
    c.since = unixNow();
    if (c.deadline) {
        loop_.cancelTimer(c.deadline);
        c.deadline = 0;
    }
    if (c.link.outbound()) {
        PeerSet::Peer &p = peers_[c.peerIndex];
        p.backoff.reset();
        p.lastError.clear();
        p.lastHello = hello;
        p.since = c.since;
    }
    if (first) {
        const auto &peerId = c.link.peerId();
        LOG(Info, "peers", "peer %s %s (%s, node %s, meshd %s) is up",
            c.link.outbound() ? "to" : "from", c.link.endpoint().c_str(),
            peerId ? peerId->str().c_str() : "?", hello["node"].get<std::string>().c_str(),
            hello["version"].get<std::string>().c_str());
        std::uint64_t id = c.link.id();
        if (!c.link.outbound())
            peers_.redialFrom(c.host);
        publish_("peer_up", {{"endpoint", c.link.endpoint()},
                             {"direction", c.link.outbound() ? "outbound" : "inbound"},
                             {"spiffe_id", peerId ? json(peerId->str()) : json()},
                             {"node", hello["node"]}});
        updateGauges();
        dispatch_.peerUp(info(c));
        return conns_.count(id) > 0; // a client may have closed it
    }
    return true;
}

PeerInfo PeerService::info(const Conn &c) const
{
    PeerInfo p;
    p.conn = c.link.id();
    p.id = c.link.peerId();
    p.localId = c.link.localId();
    p.endpoint = c.link.endpoint();
    p.host = c.host;
    p.outbound = c.link.outbound();
    if (c.hello.is_object()) {
        p.node = c.hello.value("node", "");
        for (const auto &cap : c.hello["capabilities"])
            p.capabilities.push_back(cap.get<std::string>());
    }
    return p;
}

void PeerService::send(Conn &c, std::uint8_t type, const json &payload)
{
    std::string text = payload.is_null() ? std::string() : payload.dump();
    c.link.queue(type, std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()));
    channelMessages_.Add({{"direction", "out"}}).Increment();
}

bool PeerService::sendRaw(std::uint64_t id, std::uint8_t type,
                          std::span<const std::uint8_t> payload)
{
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->link.state() != State::Up ||
        payload.size() > frame::maxPayload)
        return false;
    it->second->link.queue(type, payload);
    it->second->link.wantWrite();
    channelMessages_.Add({{"direction", "out"}}).Increment();
    return true;
}

void PeerService::ioFailed(PeerTransport &t, const std::string &message)
{
    // Before the peer's hello, a failure is the peer refusing the handshake
    // (a TLS 1.3 server judges the client's SVID after the client is done).
    if (t.state() == State::Hello)
        return handshakeFailed(t, "tls_error", message);
    countError("io_error");
    close(t.id(), message, true);
}

void PeerService::handshakeFailed(PeerTransport &t, const std::string &result,
                                  const std::string &message)
{
    Conn &c = conn(t);
    handshakes_.Add({{"result", result}}).Increment();
    Log::writeLimited("peer-handshake", LogLevel::Warning, "peers",
                      "mTLS handshake %s %s failed (%s): %s", t.outbound() ? "to" : "from",
                      t.endpoint().c_str(), result.c_str(), message.c_str());
    publish_("handshake_failed", {{"endpoint", t.endpoint()},
                                  {"direction", t.outbound() ? "outbound" : "inbound"},
                                  {"result", result},
                                  {"message", message}});
    if (t.outbound())
        ++peers_[c.peerIndex].handshakesFailed;
    close(t.id(), result + ": " + message, true);
}

void PeerService::close(std::uint64_t id, const std::string &reason, bool failed)
{
    auto it = conns_.find(id);
    if (it == conns_.end())
        return;
    std::unique_ptr<Conn> c = std::move(it->second);
    conns_.erase(it);
    if (c->deadline)
        loop_.cancelTimer(c->deadline);
    c->link.shutdown();
    const PeerTransport &t = c->link;
    if (t.state() == State::Up) {
        LOG(Info, "peers", "peer %s %s (%s) is down: %s", t.outbound() ? "to" : "from",
            t.endpoint().c_str(), t.peerId() ? t.peerId()->str().c_str() : "?", reason.c_str());
        if (keepaliveTimer_) // while stopping, monitors have had "stopping"
            publish_("peer_down", {{"endpoint", t.endpoint()},
                                   {"direction", t.outbound() ? "outbound" : "inbound"},
                                   {"spiffe_id", t.peerId() ? json(t.peerId()->str()) : json()},
                                   {"reason", reason}});
        dispatch_.peerDown(info(*c), reason);
    }
    if (t.outbound()) {
        std::size_t index = c->peerIndex;
        PeerSet::Peer &p = peers_[index];
        p.conn = 0;
        p.lastError = reason;
        p.since = unixNow();
        p.messagesIn += t.messagesIn;
        p.messagesOut += t.messagesOut;
        p.bytesIn += t.bytesIn;
        p.bytesOut += t.bytesOut;
        if (keepaliveTimer_) // not while stopping
            peers_.scheduleDial(index, failed || t.state() != State::Up);
    }
    updateGauges();
}

void PeerService::keepalive()
{
    auto now = SteadyClock::now();
    auto wallNow = std::chrono::system_clock::now();
    std::vector<std::uint64_t> dead, expired;
    for (auto &[id, c] : conns_) {
        PeerTransport &t = c->link;
        if (t.state() != State::Up)
            continue;
        if (now - t.lastRx() > keepaliveTimeout) {
            dead.push_back(id);
            continue;
        }
        // The session was authenticated with an SVID that is no longer
        // valid: end it, so that the peer comes back with its rotated one.
        if (t.peerNotAfter() <= wallNow) {
            expired.push_back(id);
            continue;
        }
        if (now - t.lastTx() > keepaliveInterval) {
            send(*c, frame::Keepalive, nullptr);
            t.touchTx(now);
            t.wantWrite();
        }
    }
    for (auto id : dead) {
        countError("keepalive_timeout");
        close(id, "nothing heard for " + std::to_string(keepaliveTimeout.count()) + " s", true);
    }
    for (auto id : expired) {
        countError("peer_svid_expired");
        close(id, "the peer's SVID expired", false);
    }
    keepaliveTimer_ = loop_.addTimer(std::chrono::seconds(1), [this] { keepalive(); });
}

void PeerService::updateGauges()
{
    std::map<std::string, double> counts = {{"connecting", 0}, {"handshaking", 0}, {"hello", 0},
                                            {"up", 0},         {"backoff", 0},     {"waiting", 0}};
    for (const auto &[id, c] : conns_)
        counts[PeerTransport::stateName(c->link.state())] += 1;
    for (const auto &p : peers_)
        if (p.conn == 0)
            counts[p.retry ? "backoff" : "waiting"] += 1;
    for (const auto &[state, n] : counts)
        peerGauge_.Add({{"state", state}}).Set(n);
}

json PeerService::describe(const Conn *c, const PeerSet::Peer *p) const
{
    json out;
    const json &hello = c ? c->hello : p->lastHello;
    auto helloField = [&](const char *key) {
        return hello.is_object() && hello.contains(key) ? hello[key] : json();
    };
    out["endpoint"] = c ? c->link.endpoint() : p->config.address;
    out["direction"] = (c ? c->link.outbound() : true) ? "outbound" : "inbound";
    out["state"] = c ? PeerTransport::stateName(c->link.state()) : (p->retry ? "backoff" : "waiting");
    std::optional<spiffe::SpiffeId> id = c ? c->link.peerId() : p->lastId;
    out["spiffe_id"] = id ? json(id->str()) : json();
    out["expected_id"] = p && p->expected ? json(p->expected->str()) : json();
    out["node"] = helloField("node");
    out["version"] = helloField("version");
    out["mesh_mac"] = helloField("mesh_mac");
    out["capabilities"] = hello.is_object() && hello.contains("capabilities")
                              ? hello["capabilities"]
                              : json::array();
    out["since"] = c ? c->since : p->since;
    out["last_error"] = p && !p->lastError.empty() ? json(p->lastError) : json();
    out["handshakes_ok"] = p ? p->handshakesOk : (c->link.state() == State::Up ? 1 : 0);
    out["handshakes_failed"] = p ? p->handshakesFailed : 0;
    std::uint64_t in = (p ? p->messagesIn : 0) + (c ? c->link.messagesIn : 0);
    std::uint64_t outN = (p ? p->messagesOut : 0) + (c ? c->link.messagesOut : 0);
    out["messages_in"] = in;
    out["messages_out"] = outN;
    out["bytes_in"] = (p ? p->bytesIn : 0) + (c ? c->link.bytesIn : 0);
    out["bytes_out"] = (p ? p->bytesOut : 0) + (c ? c->link.bytesOut : 0);
    if (tunnelView_)
        out["tunnel"] = tunnelView_(id);
    if (p && !c && p->retry)
        out["retry_in_s"] = std::max(
            0.0, std::chrono::duration<double>(p->retryAt - SteadyClock::now()).count());
    return out;
}

json PeerService::status() const
{
    int up = 0, inbound = 0;
    for (const auto &[id, c] : conns_) {
        up += c->link.outbound() && c->link.state() == State::Up;
        inbound += !c->link.outbound() && c->link.state() == State::Up;
    }
    return {{"state", "ok"},
            {"listen", config_.spiffe.listen.empty() ? json() : json(config_.spiffe.listen)},
            {"configured", peers_.size()},
            {"up", up},
            {"inbound", inbound}};
}

void PeerService::registerCommands(CommandRegistry &commands)
{
    commands.add("peers", "peer channel connections: state, SPIFFE ID, endpoint, counters",
                 [this](const json &) {
                     json out = json::array();
                     for (const auto &p : peers_) {
                         auto it = p.conn ? conns_.find(p.conn) : conns_.end();
                         out.push_back(describe(it == conns_.end() ? nullptr : it->second.get(),
                                                &p));
                     }
                     for (const auto &[id, c] : conns_)
                         if (!c->link.outbound())
                             out.push_back(describe(c.get(), nullptr));
                     return CommandResult::success(out);
                 });
}

} // namespace meshd
