// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_service.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "log.h"
#include "meshd_build.h"
#include "metrics.h"
#include "tls.h"

namespace meshd {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string meshMac(const std::string &interface)
{
    std::ifstream in("/sys/class/net/" + interface + "/address");
    std::string mac;
    if (!(in >> mac) || mac.size() != 17)
        return {};
    return mac; // the kernel writes lower-case aa:bb:cc:dd:ee:ff
}

bool printable(const std::string &s, std::size_t max)
{
    if (s.empty() || s.size() > max)
        return false;
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            return false;
    return true;
}

// Lower-case aa:bb:cc:dd:ee:ff, as MACs are written everywhere in meshd.
bool isMac(const std::string &s)
{
    if (s.size() != 17)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char ch = s[i];
        bool ok = i % 3 == 2 ? ch == ':' : (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        if (!ok)
            return false;
    }
    return true;
}

// The peer's hello, checked field by field; "" or what is wrong.
std::string checkHello(const json &h)
{
    if (!h.is_object())
        return "the hello is not a JSON object";
    if (!h.contains("protocol") || !h["protocol"].is_number_unsigned() || h["protocol"] == 0)
        return "the hello has no protocol version";
    for (const char *key : {"node", "version"})
        if (!h.contains(key) || !h[key].is_string() || !printable(h[key], 64))
            return std::string("the hello's \"") + key + "\" is not a printable string";
    if (h.contains("mesh_mac") && !h["mesh_mac"].is_null() &&
        (!h["mesh_mac"].is_string() || !isMac(h["mesh_mac"].get<std::string>())))
        return "the hello's \"mesh_mac\" is not a MAC address (aa:bb:cc:dd:ee:ff)";
    if (!h.contains("capabilities") || !h["capabilities"].is_array() ||
        h["capabilities"].size() > 32)
        return "the hello's \"capabilities\" is not a list";
    for (const auto &c : h["capabilities"])
        if (!c.is_string() || !printable(c, 32))
            return "a capability in the hello is not a short string";
    return {};
}

constexpr const char *handshakeResults[] = {
    "ok",      "no_certificate", "untrusted", "expired",     "invalid_svid",
    "unauthorized", "tls_error", "timeout",   "no_identity",
};
constexpr const char *channelErrorReasons[] = {
    "bad_frame", "bad_hello", "unknown_type", "keepalive_timeout", "io_error", "closed",
    "peer_svid_expired", "over_limit",
};

} // namespace

PeerService::PeerService(EventLoop &loop, const Config &config, Metrics &metrics,
                         IdentitySource identity, Publish publish)
    : loop_(loop), config_(config), identity_(std::move(identity)), publish_(std::move(publish)),
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
    for (const auto &p : config_.spiffe.peers) {
        Peer peer(p, spiffe::Backoff(std::chrono::milliseconds(config_.spiffe.peerRetryMs),
                                     std::chrono::milliseconds(std::max<std::uint32_t>(
                                         60000, config_.spiffe.peerRetryMs))));
        peer.since = unixNow();
        peer.host = canonicalHost(p.address);
        if (!p.id.empty()) {
            auto parsed = spiffe::parseId(p.id); // validated with the config
            if (auto *id = std::get_if<spiffe::SpiffeId>(&parsed))
                peer.expected = *id;
        }
        peers_.push_back(std::move(peer));
    }
}

PeerService::~PeerService() { stop(); }

const char *PeerService::stateName(State state)
{
    switch (state) {
    case State::Connecting:
        return "connecting";
    case State::Handshaking:
        return "handshaking";
    case State::Hello:
        return "hello";
    case State::Up:
        return "up";
    }
    return "connecting";
}

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
        if (auto it = conns_.find(id); it != conns_.end() && it->second->state == State::Up) {
            send(*it->second, frame::Goodbye, {{"reason", "shutting down"}});
            flush(*it->second); // best effort: the socket does not block
        }
        close(id, "meshd is stopping", false);
    }
    for (auto &p : peers_)
        if (p.retry) {
            loop_.cancelTimer(p.retry);
            p.retry = 0;
        }
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
        std::size_t pending = 0, fromHost = 0;
        for (const auto &[id, other] : conns_)
            if (other->state != State::Up) {
                ++pending;
                fromHost += !other->outbound && other->host == host;
            }
        const char *limit = conns_.size() >= maxConnections ? "connections"
                            : pending >= maxPending         ? "handshakes in progress"
                            : fromHost >= maxPendingPerHost ? "handshakes in progress from one address"
                                                            : nullptr;
        if (limit) {
            countError("over_limit");
            Log::writeLimited("peer-limit", LogLevel::Warning, "peers",
                              "refusing %s: too many peer %s", endpoint.c_str(), limit);
            continue; // closes it
        }
        Conn *c = adopt(std::move(fd), false, endpoint, SIZE_MAX);
        if (c)
            c->host = host;
        if (c && startTls(*c))
            pump(c->id, 0);
    }
}

PeerService::Conn *PeerService::adopt(UniqueFD fd, bool outbound, std::string endpoint,
                                      std::size_t peerIndex)
{
    auto c = std::make_unique<Conn>();
    c->id = nextId_++;
    c->fd = std::move(fd);
    c->outbound = outbound;
    c->endpoint = std::move(endpoint);
    c->peerIndex = peerIndex;
    c->since = unixNow();
    c->lastRx = c->lastTx = SteadyClock::now();
    int one = 1;
    setsockopt(c->fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::uint64_t id = c->id;
    c->events = outbound ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (int err = loop_.addFd(c->fd.get(), c->events,
                              [this, id](std::uint32_t ev) { pump(id, ev); }, "peer");
        err < 0) {
        Log::writeLimited("peer-watch", LogLevel::Warning, "peers", "cannot watch %s: %s",
                          c->endpoint.c_str(), strerror(-err));
        return nullptr;
    }
    c->deadline = loop_.addTimer(std::chrono::milliseconds(config_.spiffe.handshakeTimeoutMs),
                                 [this, id] {
                                     auto it = conns_.find(id);
                                     if (it == conns_.end())
                                         return;
                                     it->second->deadline = 0;
                                     handshakeFailed(*it->second, "timeout",
                                                     "no handshake within " +
                                                         std::to_string(
                                                             config_.spiffe.handshakeTimeoutMs) +
                                                         " ms");
                                 });
    Conn *raw = c.get();
    conns_.emplace(id, std::move(c));
    if (outbound)
        peers_[peerIndex].conn = id;
    updateGauges();
    return raw;
}

void PeerService::dial(std::size_t index)
{
    Peer &p = peers_[index];
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
        scheduleDial(index, true);
        return;
    }
    if (Conn *c = adopt(std::move(fd), true, p.config.address, index)) {
        c->host = p.host;
    } else {
        p.lastError = "cannot watch the connection";
        scheduleDial(index, true);
    }
}

void PeerService::scheduleDial(std::size_t index, bool failed)
{
    Peer &p = peers_[index];
    if (p.retry)
        return;
    auto delay = failed ? p.backoff.next() : std::chrono::milliseconds(config_.spiffe.peerRetryMs);
    p.retryAt = SteadyClock::now() + delay;
    p.retry = loop_.addTimer(delay, [this, index] {
        dial(index);
        updateGauges();
    });
}

// A node we failed to reach just reached us: it is back, so the dial to it
// need not wait out its backoff.
void PeerService::redialFrom(const std::string &host)
{
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        Peer &p = peers_[i];
        if (p.conn != 0 || p.retry == 0 || p.host != host)
            continue;
        loop_.cancelTimer(p.retry);
        p.retry = 0;
        dial(i);
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
    for (std::size_t i = 0; i < peers_.size(); ++i)
        if (peers_[i].conn == 0 && peers_[i].retry == 0)
            dial(i);
}

bool PeerService::startTls(Conn &c)
{
    auto ctx = identity_.tlsContext();
    if (!ctx) {
        handshakeFailed(c, "no_identity",
                        "this node has no valid SVID: " + identity_.unavailableReason());
        return false;
    }
    std::optional<spiffe::Authorizer> expected;
    if (c.outbound && peers_[c.peerIndex].expected)
        expected = spiffe::authorizeId(*peers_[c.peerIndex].expected);
    c.tls = std::make_unique<spiffe::TlsSession>(std::move(ctx), c.fd.get(), !c.outbound,
                                                 std::move(expected));
    c.state = State::Handshaking;
    c.started = SteadyClock::now();
    return true;
}

void PeerService::updateEvents(Conn &c, std::uint32_t want)
{
    if (want != c.events) {
        c.events = want;
        loop_.modifyFd(c.fd.get(), want);
    }
}

void PeerService::pump(std::uint64_t id, std::uint32_t events)
{
    auto it = conns_.find(id);
    if (it == conns_.end())
        return;
    try {
        advance(*it->second, events);
    } catch (const std::exception &e) {
        if (conns_.count(id))
            close(id, std::string("internal error: ") + e.what(), true);
    }
    updateGauges(); // states change inside
}

bool PeerService::advance(Conn &c, std::uint32_t events)
{
    if (c.state == State::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return true;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            // Not a handshake: nobody answered.
            close(c.id, std::string("connect: ") + strerror(err), true);
            return false;
        }
        if (!startTls(c))
            return false;
    }
    if (c.state == State::Handshaking) {
        switch (c.tls->handshake()) {
        case spiffe::TlsSession::Status::WantRead:
            updateEvents(c, EPOLLIN);
            return true;
        case spiffe::TlsSession::Status::WantWrite:
            updateEvents(c, EPOLLIN | EPOLLOUT);
            return true;
        case spiffe::TlsSession::Status::Closed:
        case spiffe::TlsSession::Status::Failed: {
            auto verdict = c.tls->verdict();
            std::string result = verdict == spiffe::PeerVerdict::Ok
                                     ? "tls_error"
                                     : spiffe::peerVerdictName(verdict);
            std::string why = c.tls->error().empty() ? "the peer closed the connection"
                                                     : c.tls->error();
            handshakeFailed(c, result, why);
            return false;
        }
        case spiffe::TlsSession::Status::Done:
            break;
        }
        // On TLS 1.3 a client is Done before the server has judged its
        // SVID: the handshake counts as ok once the peer's hello arrives.
        c.handshakeSeconds =
            std::chrono::duration<double>(SteadyClock::now() - c.started).count();
        c.peerId = c.tls->peerId();
        c.peerNotAfter = c.tls->peerNotAfter();
        c.state = State::Hello;
        c.since = unixNow();
        LOG(Debug, "peers", "TLS with %s (%s) in %.1f ms", c.endpoint.c_str(),
            c.peerId ? c.peerId->str().c_str() : "?", c.handshakeSeconds * 1000);
        sendHello(c);
    }
    if (!flush(c))
        return false;
    if (!receive(c))
        return false;
    updateEvents(c, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
    return true;
}

bool PeerService::flush(Conn &c)
{
    while (!c.out.empty()) {
        std::size_t written = 0;
        auto st = c.tls->write(c.out, written);
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(written));
        if (written > 0)
            c.lastTx = SteadyClock::now();
        if (st == spiffe::TlsSession::Status::WantRead ||
            st == spiffe::TlsSession::Status::WantWrite)
            return true;
        if (st == spiffe::TlsSession::Status::Closed || st == spiffe::TlsSession::Status::Failed) {
            ioFailed(c, "write: " + c.tls->error());
            return false;
        }
    }
    return true;
}

bool PeerService::receive(Conn &c)
{
    std::vector<std::uint8_t> data;
    auto st = c.tls->read(data, maxReadPerTurn);
    if (!data.empty()) {
        c.lastRx = SteadyClock::now();
        if (!c.decoder.feed(data)) {
            countError("bad_frame");
            close(c.id, "bad frame: " + c.decoder.error(), true);
            return false;
        }
        while (auto f = c.decoder.next()) {
            if (!onFrame(c, *f))
                return false;
        }
        if (!c.decoder.error().empty()) {
            countError("bad_frame");
            close(c.id, "bad frame: " + c.decoder.error(), true);
            return false;
        }
    }
    if (st == spiffe::TlsSession::Status::Closed) {
        if (c.state == State::Hello) {
            handshakeFailed(c, "tls_error", "the peer closed the connection before its hello");
            return false;
        }
        countError("closed");
        close(c.id, "closed by the peer", false);
        return false;
    }
    if (st == spiffe::TlsSession::Status::Failed) {
        ioFailed(c, "read: " + c.tls->error());
        return false;
    }
    if (!flush(c)) // a reply (or TLS's own records) may be waiting
        return false;
    // Bytes OpenSSL already decrypted raise no epoll event: come back for
    // them on the next turn, after the loop has served everything else.
    if (c.tls->pending() && !c.repump) {
        c.repump = true;
        std::uint64_t id = c.id;
        loop_.addTimer(std::chrono::milliseconds(0), [this, id] {
            auto it = conns_.find(id);
            if (it == conns_.end())
                return;
            it->second->repump = false;
            pump(id, EPOLLIN);
        });
    }
    return true;
}

bool PeerService::onFrame(Conn &c, const Frame &f)
{
    ++c.messagesIn;
    c.bytesIn += frame::headerSize + f.payload.size();
    channelMessages_.Add({{"direction", "in"}}).Increment();
    switch (f.type) {
    case frame::Hello: {
        json hello = json::parse(f.payload.begin(), f.payload.end(), nullptr, false);
        std::string problem = hello.is_discarded() ? "the hello is not JSON" : checkHello(hello);
        if (!problem.empty()) {
            countError("bad_hello");
            close(c.id, problem, true);
            return false;
        }
        bool first = c.state != State::Up;
        if (first) {
            handshakes_.Add({{"result", "ok"}}).Increment();
            handshakeSeconds_.Observe(c.handshakeSeconds);
            if (c.outbound) {
                ++peers_[c.peerIndex].handshakesOk;
                peers_[c.peerIndex].lastId = c.peerId;
            }
        }
        c.hello = hello;
        c.state = State::Up;
        c.since = unixNow();
        if (c.deadline) {
            loop_.cancelTimer(c.deadline);
            c.deadline = 0;
        }
        if (c.outbound) {
            Peer &p = peers_[c.peerIndex];
            p.backoff.reset();
            p.lastError.clear();
            p.lastHello = hello;
            p.since = c.since;
        }
        if (first) {
            LOG(Info, "peers", "peer %s %s (%s, node %s, meshd %s) is up",
                c.outbound ? "to" : "from", c.endpoint.c_str(),
                c.peerId ? c.peerId->str().c_str() : "?",
                hello["node"].get<std::string>().c_str(),
                hello["version"].get<std::string>().c_str());
            if (!c.outbound)
                redialFrom(c.host);
            publish_("peer_up", {{"endpoint", c.endpoint},
                                 {"direction", c.outbound ? "outbound" : "inbound"},
                                 {"spiffe_id", c.peerId ? json(c.peerId->str()) : json()},
                                 {"node", hello["node"]}});
            updateGauges();
        }
        return true;
    }
    case frame::Keepalive:
        return true;
    case frame::Goodbye: {
        json bye = json::parse(f.payload.begin(), f.payload.end(), nullptr, false);
        std::string reason = !bye.is_discarded() && bye.is_object() && bye.contains("reason") &&
                                     bye["reason"].is_string()
                                 ? bye["reason"].get<std::string>().substr(0, 200)
                                 : "no reason";
        for (char &ch : reason) // it reaches logs and terminals
            if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e)
                ch = '?';
        close(c.id, "the peer said goodbye: " + reason, false);
        return false;
    }
    default:
        countError("unknown_type");
        return true;
    }
}

void PeerService::send(Conn &c, std::uint8_t type, const json &payload)
{
    std::string text = payload.is_null() ? std::string() : payload.dump();
    std::size_t before = c.out.size();
    encodeFrame(type,
                std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()), c.out);
    ++c.messagesOut;
    c.bytesOut += c.out.size() - before;
    channelMessages_.Add({{"direction", "out"}}).Increment();
}

json PeerService::helloPayload() const
{
    std::string mac = meshMac(config_.mesh.interface);
    return {{"protocol", 1},
            {"node", nodeName_},
            {"version", MESHD_VERSION},
            {"mesh_mac", mac.empty() ? json() : json(mac)},
            {"capabilities", json::array({"hello", "keepalive"})}};
}

void PeerService::sendHello(Conn &c) { send(c, frame::Hello, helloPayload()); }

void PeerService::ioFailed(Conn &c, const std::string &message)
{
    // Before the peer's hello, a failure is the peer refusing the handshake
    // (a TLS 1.3 server judges the client's SVID after the client is done).
    if (c.state == State::Hello)
        return handshakeFailed(c, "tls_error", message);
    countError("io_error");
    close(c.id, message, true);
}

void PeerService::handshakeFailed(Conn &c, const std::string &result, const std::string &message)
{
    handshakes_.Add({{"result", result}}).Increment();
    Log::writeLimited("peer-handshake", LogLevel::Warning, "peers",
                      "mTLS handshake %s %s failed (%s): %s", c.outbound ? "to" : "from",
                      c.endpoint.c_str(), result.c_str(), message.c_str());
    publish_("handshake_failed", {{"endpoint", c.endpoint},
                                  {"direction", c.outbound ? "outbound" : "inbound"},
                                  {"result", result},
                                  {"message", message}});
    if (c.outbound)
        ++peers_[c.peerIndex].handshakesFailed;
    close(c.id, result + ": " + message, true);
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
    if (c->tls && c->state != State::Handshaking)
        c->tls->shutdown();
    loop_.removeFd(c->fd.get());
    if (c->state == State::Up) {
        LOG(Info, "peers", "peer %s %s (%s) is down: %s", c->outbound ? "to" : "from",
            c->endpoint.c_str(), c->peerId ? c->peerId->str().c_str() : "?", reason.c_str());
        if (keepaliveTimer_) // while stopping, monitors have had "stopping"
            publish_("peer_down", {{"endpoint", c->endpoint},
                               {"direction", c->outbound ? "outbound" : "inbound"},
                               {"spiffe_id", c->peerId ? json(c->peerId->str()) : json()},
                               {"reason", reason}});
    }
    if (c->outbound) {
        std::size_t index = c->peerIndex;
        Peer &p = peers_[index];
        p.conn = 0;
        p.lastError = reason;
        p.since = unixNow();
        p.messagesIn += c->messagesIn;
        p.messagesOut += c->messagesOut;
        p.bytesIn += c->bytesIn;
        p.bytesOut += c->bytesOut;
        if (keepaliveTimer_) // not while stopping
            scheduleDial(index, failed || c->state != State::Up);
    }
    updateGauges();
}

void PeerService::keepalive()
{
    auto now = SteadyClock::now();
    auto wallNow = std::chrono::system_clock::now();
    std::vector<std::uint64_t> dead, expired;
    for (auto &[id, c] : conns_) {
        if (c->state != State::Up)
            continue;
        if (now - c->lastRx > keepaliveTimeout) {
            dead.push_back(id);
            continue;
        }
        // The session was authenticated with an SVID that is no longer
        // valid: end it, so that the peer comes back with its rotated one.
        if (c->peerNotAfter <= wallNow) {
            expired.push_back(id);
            continue;
        }
        if (now - c->lastTx > keepaliveInterval) {
            send(*c, frame::Keepalive, nullptr);
            c->lastTx = now;
            if (c->events != (EPOLLIN | EPOLLOUT))
                updateEvents(*c, EPOLLIN | EPOLLOUT);
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
        counts[stateName(c->state)] += 1;
    for (const auto &p : peers_)
        if (p.conn == 0)
            counts[p.retry ? "backoff" : "waiting"] += 1;
    for (const auto &[state, n] : counts)
        peerGauge_.Add({{"state", state}}).Set(n);
}

json PeerService::describe(const Conn *c, const Peer *p) const
{
    json out;
    const json &hello = c ? c->hello : p->lastHello;
    auto helloField = [&](const char *key) {
        return hello.is_object() && hello.contains(key) ? hello[key] : json();
    };
    out["endpoint"] = c ? c->endpoint : p->config.address;
    out["direction"] = (c ? c->outbound : true) ? "outbound" : "inbound";
    out["state"] = c ? stateName(c->state) : (p->retry ? "backoff" : "waiting");
    std::optional<spiffe::SpiffeId> id = c ? c->peerId : p->lastId;
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
    out["handshakes_ok"] = p ? p->handshakesOk : (c->state == State::Up ? 1 : 0);
    out["handshakes_failed"] = p ? p->handshakesFailed : 0;
    std::uint64_t in = (p ? p->messagesIn : 0) + (c ? c->messagesIn : 0);
    std::uint64_t outN = (p ? p->messagesOut : 0) + (c ? c->messagesOut : 0);
    out["messages_in"] = in;
    out["messages_out"] = outN;
    out["bytes_in"] = (p ? p->bytesIn : 0) + (c ? c->bytesIn : 0);
    out["bytes_out"] = (p ? p->bytesOut : 0) + (c ? c->bytesOut : 0);
    if (p && !c && p->retry)
        out["retry_in_s"] = std::max(
            0.0, std::chrono::duration<double>(p->retryAt - SteadyClock::now()).count());
    return out;
}

json PeerService::status() const
{
    int up = 0, inbound = 0;
    for (const auto &[id, c] : conns_) {
        up += c->outbound && c->state == State::Up;
        inbound += !c->outbound && c->state == State::Up;
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
                         if (!c->outbound)
                             out.push_back(describe(c.get(), nullptr));
                     return CommandResult::success(out);
                 });
}

} // namespace meshd
