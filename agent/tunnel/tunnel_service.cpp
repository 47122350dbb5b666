// SPDX-License-Identifier: GPL-2.0-or-later
#include "tunnel_service.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "counters.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "engine_event.h"
#include "peer_table.h"
#include "tunnel_keys.h"

namespace meshd {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace fwd = forward;

static_assert(fwd_drop_reasons == forward::dropReasonCount);

namespace {

constexpr const char *handshakeFailureReasons[] = {
    "bad_message", "unexpected", "cipher", "keys", "timeout", "closed",
};

std::string endpointString(const sockaddr_storage &ss, socklen_t len)
{
    return len ? sockaddrString(ss) : std::string();
}

} // namespace

const char *TunnelService::stateName(State s)
{
    switch (s) {
    case State::Offered:
        return "offered";
    case State::Accepted:
        return "accepted";
    case State::Up:
        return "up";
    }
    return "offered";
}

TunnelService::TunnelService(EventLoop &loop, const Config &config, Metrics &metrics,
                             PeerDispatch &dispatch, Publish publish)
    : loop_(loop), config_(config), dispatch_(dispatch), publish_(std::move(publish)),
      peerGauge_(prometheus::BuildGauge()
                     .Name("meshd_tunnel_peers")
                     .Help("Tunnel sessions by state (offered, accepted, up), and peers that "
                           "announce the tunnel on the peer channel (channel).")
                     .Register(metrics.registry())),
      packets_(prometheus::BuildCounter()
                   .Name("meshd_tunnel_packets_total")
                   .Help("Data packets through the tunnel per peer (SPIFFE ID) and direction "
                         "(rx: from the peer, tx: to it).")
                   .Register(metrics.registry())),
      bytes_(prometheus::BuildCounter()
                 .Name("meshd_tunnel_bytes_total")
                 .Help("Bytes of inner frames through the tunnel per peer and direction.")
                 .Register(metrics.registry())),
      drops_(prometheus::BuildCounter()
                 .Name("meshd_tunnel_drops_total")
                 .Help("Packets and frames the tunnel's data plane dropped, by reason.")
                 .Register(metrics.registry())),
      ringOccupancy_(prometheus::BuildGauge()
                         .Name("meshd_tunnel_ring_occupancy_ratio")
                         .Help("How full each ring of the data plane is (0..1), by ring.")
                         .Register(metrics.registry())),
      rekeysTotal_(prometheus::BuildCounter()
                       .Name("meshd_tunnel_rekeys_total")
                       .Help("Tunnel sessions that switched to new keys.")
                       .Register(metrics.registry())),
      handshakeFailures_(prometheus::BuildCounter()
                             .Name("meshd_tunnel_handshake_failures_total")
                             .Help("Tunnel key exchanges that failed, by reason.")
                             .Register(metrics.registry())),
      messageErrors_(prometheus::BuildCounter()
                         .Name("meshd_tunnel_message_errors_total")
                         .Help("Key exchange messages refused (bad_message: malformed; "
                               "unexpected: not fitting the session's state).")
                         .Register(metrics.registry()))
{
    for (const char *s : {"offered", "accepted", "up", "channel"})
        peerGauge_.Add({{"state", s}}).Set(0);
    for (std::size_t i = 0; i < fwd::dropReasonCount; ++i)
        drops_.Add({{"reason", fwd::dropReasonName(fwd::DropReason(i))}});
    for (const char *r : handshakeFailureReasons)
        handshakeFailures_.Add({{"reason", r}});
    for (const char *r : {"bad_message", "unexpected"})
        messageErrors_.Add({{"reason", r}});
    rekeysTotal_.Add({});

    choice_ = fwd::parseCipherChoice(config_.tunnel.cipher).value_or(fwd::CipherChoice::Auto);
    hasAes_ = fwd::cpuHasAes();
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    workers_ = config_.tunnel.workers ? config_.tunnel.workers : std::min(cores, 4u);
    mtu_ = config_.tunnel.mtu ? config_.tunnel.mtu : defaultMtu;

    PeerDispatch::Client client;
    client.capability = "tunnel";
    client.handlers[tunnel::Offer] = [this](const PeerInfo &p, auto m) { onOffer(p, m); };
    client.handlers[tunnel::Accept] = [this](const PeerInfo &p, auto m) { onAccept(p, m); };
    client.handlers[tunnel::Confirm] = [this](const PeerInfo &p, auto m) { onConfirm(p, m); };
    client.handlers[tunnel::Close] = [this](const PeerInfo &p, auto m) { onClose(p, m); };
    client.up = [this](const PeerInfo &p) { onUp(p); };
    client.down = [this](const PeerInfo &p, const std::string &why) { onDown(p, why); };
    if (std::string err = dispatch_.add(std::move(client)); !err.empty())
        problem_ = "cannot register with the peer channel: " + err;
}

TunnelService::~TunnelService() { stop(); }

std::string TunnelService::start()
{
    if (!problem_.empty())
        return problem_;
    fwd::EngineConfig ec;
    ec.interface = config_.tunnel.interface;
    ec.workers = workers_;
    ec.mtu = mtu_;
    ec.keepaliveSeconds = 10;
    if (!toSockaddr(config_.tunnel.listen, ec.listen, ec.listenLen))
        return "tunnel.listen: not an address";
    std::vector<fwd::MeshIo> designs;
    if (config_.tunnel.io == "tap")
        designs = {fwd::MeshIo::Tap};
    else if (config_.tunnel.io == "packet-ring")
        designs = {fwd::MeshIo::PacketRing};
    else
        designs = {fwd::MeshIo::Tap, fwd::MeshIo::PacketRing}; // the faster here first (BENCHMARKS.md)
    std::string errors;
    for (auto io : designs) {
        ec.io = io;
        auto engine = std::make_unique<fwd::Engine>(ec);
        if (int err = engine->start(); err < 0) {
            std::string why = engine->error().empty() ? strerror(-err) : engine->error();
            LOG(Warning, "tunnel", "%s I/O is unavailable: %s", fwd::meshIoName(io), why.c_str());
            errors += (errors.empty() ? "" : "; ") + std::string(fwd::meshIoName(io)) + ": " + why;
            continue;
        }
        engine_ = std::move(engine);
        io_ = fwd::meshIoName(io);
        break;
    }
    if (!engine_)
        return "tunnel: cannot start the data plane (" + errors + ")";
    if (int err = loop_.addFd(engine_->eventFd(), EPOLLIN, [this](std::uint32_t) { onEngineEvents(); },
                              "tunnel-events");
        err < 0) {
        engine_.reset();
        return std::string("tunnel: cannot watch the data plane: ") + strerror(-err);
    }
    watchingEvents_ = true;
    started_ = SteadyClock::now();
    if (!config_.tunnel.fastdStatusSocket.empty()) {
        if (std::string err = openStatusSocket(); !err.empty()) {
            stop();
            return "tunnel.fastd_status_socket: " + err;
        }
    }
    tickTimer_ = loop_.addTimer(std::chrono::seconds(1), [this] { tick(); });
    LOG(Info, "tunnel", "tunnel %s up: UDP %s (port %u), %s I/O, %u worker%s, MTU %u",
        config_.tunnel.interface.c_str(), config_.tunnel.listen.c_str(), engine_->boundPort(),
        io_.c_str(), workers_, workers_ == 1 ? "" : "s", mtu_);
    return {};
}

void TunnelService::stop()
{
    if (tickTimer_) {
        loop_.cancelTimer(tickTimer_);
        tickTimer_ = 0;
    }
    std::vector<std::string> ids;
    for (const auto &[id, link] : links_)
        ids.push_back(id);
    for (const auto &id : ids)
        teardown(id, "meshd is stopping", true);
    closeStatusSocket();
    if (engine_) {
        if (watchingEvents_)
            loop_.removeFd(engine_->eventFd());
        watchingEvents_ = false;
        engine_->stop();
        engine_.reset(); // frees what was retired, removes the interface
    }
}

// fastd's status socket: every client that connects gets one JSON document
// of the tunnel's state and the connection is closed (Gluon's respondd and
// the fastd exporters read it this way).
std::string TunnelService::openStatusSocket()
{
    const std::string &path = config_.tunnel.fastdStatusSocket;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        return "the path is too long for a Unix socket";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) // never remove what is not a stale socket
            return path + " exists and is not a socket";
        unlink(path.c_str());
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return std::string("socket: ") + strerror(errno);
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        std::string err = "cannot listen on " + path + ": " + strerror(errno);
        ::close(fd);
        return err;
    }
    if (int err = loop_.addFd(fd, EPOLLIN, [this](std::uint32_t) { onStatusClient(); },
                              "fastd-status");
        err < 0) {
        ::close(fd);
        unlink(path.c_str());
        return std::string("cannot watch it: ") + strerror(-err);
    }
    statusFd_ = fd;
    return {};
}

void TunnelService::closeStatusSocket()
{
    if (statusFd_ < 0)
        return;
    loop_.removeFd(statusFd_);
    ::close(statusFd_);
    statusFd_ = -1;
    unlink(config_.tunnel.fastdStatusSocket.c_str());
}

void TunnelService::onStatusClient()
{
    for (int i = 0; i < 16; ++i) { // a bounded turn: the loop has other work
        int client = accept4(statusFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0)
            return;
        std::string text = fastdStatus().dump();
        // Room for the whole document, so that one write delivers it.
        int size = int(std::min<std::size_t>(text.size() + 4096, 8u << 20));
        setsockopt(client, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        ssize_t n = ::send(client, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 || std::size_t(n) < text.size())
            Log::writeLimited("tunnel-status", LogLevel::Warning, "tunnel",
                              "fastd status socket: a client got %zd of %zu bytes", n,
                              text.size());
        ::close(client);
    }
}

json TunnelService::fastdStatus() const
{
    auto pair = [](std::uint64_t packets, std::uint64_t bytes) {
        return json{{"packets", packets}, {"bytes", bytes}};
    };
    fwd::CounterTotals t = engine_ ? engine_->totals() : fwd::CounterTotals{};
    std::uint64_t txDropped = t.dropped(fwd::DropReason::RingFull) +
                              t.dropped(fwd::DropReason::PoolEmpty) +
                              t.dropped(fwd::DropReason::TooBig) +
                              t.dropped(fwd::DropReason::NoKey);
    json peers = json::object();
    for (const auto &[conn, info] : channel_) {
        if (!info.id || peers.contains(info.id->str()))
            continue;
        peers[info.id->str()] = {{"name", info.node}, {"address", nullptr}, {"connection", nullptr}};
    }
    for (const auto &[id, l] : links_) {
        json connection = nullptr;
        if (l->state == State::Up && engine_) {
            auto p = engine_->peerTotals(l->slot);
            double established =
                std::max(0.0, (unixNow() - l->since) * 1000.0); // ms, as fastd counts
            connection = {{"established", std::int64_t(established)},
                          {"method", fwd::cipherName(l->cipher)},
                          {"statistics",
                           {{"rx", pair(p.rxPackets - l->baseRxPackets, p.rxBytes - l->baseRxBytes)},
                            {"rx_reordered", pair(0, 0)},
                            {"tx", pair(p.txPackets - l->baseTxPackets, p.txBytes - l->baseTxBytes)},
                            {"tx_dropped", pair(0, 0)},
                            {"tx_error", pair(0, 0)}}},
                          {"mac_addresses", json::array({tunnel::macString(l->mac)})}};
        }
        peers[id] = {{"name", l->node},
                     {"address", l->endpointLen ? json(endpointString(l->endpoint, l->endpointLen))
                                                : json()},
                     {"connection", connection}};
    }
    auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started_);
    return {{"uptime", std::int64_t(uptime.count())},
            {"interface", config_.tunnel.interface},
            {"statistics",
             {{"rx", pair(t.rxPackets, t.rxBytes)},
              {"rx_reordered", pair(0, 0)},
              {"tx", pair(t.txPackets, t.txBytes)},
              {"tx_dropped", pair(txDropped, 0)},
              {"tx_error", pair(t.dropped(fwd::DropReason::SendFailed), 0)}}},
            {"peers", peers}};
}

std::uint64_t TunnelService::nowNs() const { return fwd::Engine::now(); }

bool TunnelService::initiatorFor(const PeerInfo &peer) const
{
    std::string local = peer.localId ? peer.localId->str() : "";
    std::string remote = peer.id ? peer.id->str() : "";
    if (local != remote)
        return local < remote;
    return peer.outbound; // one identity on both ends: the dialling side
}

void TunnelService::send(std::uint64_t conn, std::uint8_t type,
                         const std::vector<std::uint8_t> &payload)
{
    dispatch_.send(conn, type, payload);
}

void TunnelService::onUp(const PeerInfo &peer)
{
    if (!peer.has("tunnel") || !peer.id || !peer.localId)
        return;
    channel_[peer.conn] = peer;
    maybeInitiate(peer.id->str());
    updateMetrics();
}

void TunnelService::onDown(const PeerInfo &peer, const std::string &reason)
{
    channel_.erase(peer.conn);
    if (!peer.id)
        return;
    auto it = links_.find(peer.id->str());
    if (it != links_.end() && it->second->conn == peer.conn) {
        teardown(peer.id->str(), "the peer channel closed: " + reason, false);
        maybeInitiate(peer.id->str()); // over another connection, if there is one
    }
    updateMetrics();
}

void TunnelService::maybeInitiate(const std::string &peerId)
{
    if (!engine_ || links_.count(peerId))
        return;
    // The connection to use: one where this node dialled, else any.
    const PeerInfo *chosen = nullptr;
    for (const auto &[conn, info] : channel_) {
        if (!info.id || info.id->str() != peerId)
            continue;
        if (!initiatorFor(info))
            return; // the peer starts the session
        if (!chosen || (info.outbound && !chosen->outbound))
            chosen = &info;
    }
    if (!chosen || links_.size() >= engine_->config().maxPeers)
        return;
    auto link = newLink(*chosen);
    link->initiator = true;
    Link &l = *link;
    links_[peerId] = std::move(link);
    offer(l, 1);
}

std::unique_ptr<TunnelService::Link> TunnelService::newLink(const PeerInfo &peer)
{
    auto link = std::make_unique<Link>();
    link->id = peer.id->str();
    link->node = peer.node;
    link->conn = peer.conn;
    link->role = peer.outbound ? fwd::Role::Client : fwd::Role::Server;
    link->clientId = peer.outbound ? peer.localId->str() : peer.id->str();
    link->serverId = peer.outbound ? peer.id->str() : peer.localId->str();
    link->host = peer.host;
    link->localIndex = freshIndex();
    link->slot = freshSlot();
    link->since = unixNow();
    link->created = SteadyClock::now();
    if (engine_) {
        auto totals = engine_->peerTotals(link->slot);
        link->seenRxPackets = totals.rxPackets;
        link->seenTxPackets = totals.txPackets;
        link->seenRxBytes = totals.rxBytes;
        link->seenTxBytes = totals.txBytes;
        link->baseRxPackets = totals.rxPackets;
        link->baseTxPackets = totals.txPackets;
        link->baseRxBytes = totals.rxBytes;
        link->baseTxBytes = totals.txBytes;
        link->baseDrops = totals.drops;
    }
    return link;
}

std::uint32_t TunnelService::freshIndex() const
{
    for (;;) {
        std::uint32_t index = randombytes_random();
        if (index == 0)
            continue;
        bool taken = false;
        for (const auto &[id, link] : links_)
            taken |= link->localIndex == index;
        if (!taken)
            return index;
    }
}

std::uint32_t TunnelService::freshSlot() const
{
    std::vector<bool> used(links_.size() + 1, false);
    for (const auto &[id, link] : links_)
        if (link->slot < used.size())
            used[link->slot] = true;
    return std::uint32_t(std::find(used.begin(), used.end(), false) - used.begin());
}

void TunnelService::offer(Link &link, std::uint64_t epoch)
{
    if (fwd::makeKxKeyPair(link.pendingKx) < 0) {
        link.lastError = "libsodium cannot make a key pair";
        return;
    }
    link.pendingEpoch = epoch;
    link.pendingSince = SteadyClock::now();
    if (epoch == 1)
        link.state = State::Offered;
    tunnel::OfferMessage m;
    m.epoch = epoch;
    m.index = link.localIndex;
    m.kx = link.pendingKx.publicKey;
    m.port = engine_->boundPort();
    m.mac = engine_->mac();
    m.ciphers.hasAes = hasAes_;
    m.ciphers.choice = choice_;
    m.ciphers.chacha20Poly1305 = true;
    m.ciphers.aes256Gcm = fwd::aeadAvailable(fwd::Cipher::Aes256Gcm, fwd::Library::OpenSsl) ||
                          fwd::aeadAvailable(fwd::Cipher::Aes256Gcm, fwd::Library::Sodium);
    send(link.conn, tunnel::Offer, tunnel::encode(m));
}

bool TunnelService::exporterSecret(const Link &link, std::uint64_t epoch, std::uint8_t *out)
{
    std::string context = tunnel::exporterContextFor(link.clientId, link.serverId, epoch);
    return dispatch_.exportKeyingMaterial(
        link.conn, fwd::exporterLabel,
        std::span(reinterpret_cast<const std::uint8_t *>(context.data()), context.size()),
        std::span(out, fwd::exporterSecretSize));
}

void TunnelService::setEndpoint(Link &link, std::uint16_t port)
{
    std::string host = link.host;
    std::string text = host.find(':') != std::string::npos ? "[" + host + "]:" : host + ":";
    text += std::to_string(port);
    if (!toSockaddr(text, link.endpoint, link.endpointLen))
        link.endpointLen = 0;
}

void TunnelService::handshakeFailed(const PeerInfo &peer, const std::string &reason,
                                    const std::string &message)
{
    handshakeFailures_.Add({{"reason", reason}}).Increment();
    Log::writeLimited("tunnel-handshake", LogLevel::Warning, "tunnel",
                      "tunnel key exchange with %s failed (%s): %s",
                      peer.id ? peer.id->str().c_str() : "?", reason.c_str(), message.c_str());
}

void TunnelService::onOffer(const PeerInfo &peer, std::span<const std::uint8_t> payload)
{
    if (!engine_ || !peer.id || !peer.localId)
        return;
    auto parsed = tunnel::parseOffer(payload);
    if (auto *e = std::get_if<std::string>(&parsed)) {
        messageErrors_.Add({{"reason", "bad_message"}}).Increment();
        handshakeFailed(peer, "bad_message", "offer: " + *e);
        return;
    }
    const auto &m = std::get<tunnel::OfferMessage>(parsed);
    if (initiatorFor(peer)) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return; // this node offers, the peer accepts
    }
    std::string id = peer.id->str();
    channel_[peer.conn] = peer; // it announced the tunnel, or it would not offer
    auto it = links_.find(id);
    bool fresh = it == links_.end() || it->second->conn != peer.conn || m.epoch == 1;
    if (!fresh && m.epoch != it->second->epoch + 1) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return; // a stale or repeated offer
    }
    if (fresh && m.epoch != 1) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return;
    }
    if (fresh && it != links_.end() && it->second->conn == peer.conn &&
        SteadyClock::now() - it->second->created < newSessionInterval) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return; // a new session again within a second: refused, the current one stays
    }
    if (fresh && it == links_.end() && engine_ && links_.size() >= engine_->config().maxPeers) {
        handshakeFailed(peer, "keys", "already " + std::to_string(links_.size()) +
                                          " tunnel sessions, the most the data plane holds");
        return;
    }
    fwd::Cipher cipher;
    if (fresh) {
        auto decision = fwd::negotiateCipher(choice_, hasAes_, m.ciphers);
        if (!decision.ok()) {
            handshakeFailed(peer, "cipher", decision.error);
            send(peer.conn, tunnel::Close, tunnel::encode(tunnel::CloseMessage{decision.error}));
            return;
        }
        cipher = decision.cipher;
        if (it != links_.end())
            teardown(id, "replaced by a new session", false);
    } else {
        cipher = it->second->cipher;
    }

    std::unique_ptr<Link> created;
    Link *link;
    if (fresh) {
        created = newLink(peer);
        link = created.get();
        link->cipher = cipher;
    } else {
        link = it->second.get();
    }
    fwd::KxKeyPair local;
    std::uint8_t secret[fwd::exporterSecretSize];
    if (fwd::makeKxKeyPair(local) < 0 || !exporterSecret(*link, m.epoch, secret)) {
        handshakeFailed(peer, "keys", "no key pair or TLS exporter");
        return;
    }
    auto keys = tunnel::deriveEpochKeys(link->role, local, m.kx, secret, m.epoch, cipher,
                                        tunnel::libraryFor(cipher), engine_->workerCount());
    sodium_memzero(secret, sizeof(secret));
    if (auto *e = std::get_if<std::string>(&keys)) {
        handshakeFailed(peer, "keys", *e);
        return;
    }
    auto &epochKeys = std::get<tunnel::EpochKeys>(keys);
    if (fresh)
        link->session = std::make_unique<fwd::Session>(link->localIndex, m.index);
    fwd::KeySlots::Retired retired;
    std::uint64_t graceEnd = nowNs() + std::uint64_t(std::chrono::nanoseconds(keyGrace).count());
    link->session->keys.installRx(m.epoch, std::move(epochKeys.rx), graceEnd, retired);
    retire(retired);
    link->pendingTx = std::move(epochKeys.tx);
    link->pendingEpoch = m.epoch;
    link->pendingSince = SteadyClock::now();
    if (fresh) {
        link->state = State::Accepted;
        link->mac = m.mac;
        setEndpoint(*link, m.port);
        links_[id] = std::move(created);
    }
    republish();

    tunnel::AcceptMessage a;
    a.epoch = m.epoch;
    a.index = link->localIndex;
    a.kx = local.publicKey;
    a.port = engine_->boundPort();
    a.mac = engine_->mac();
    a.cipher = cipher;
    send(peer.conn, tunnel::Accept, tunnel::encode(a));
    updateMetrics();
}

void TunnelService::onAccept(const PeerInfo &peer, std::span<const std::uint8_t> payload)
{
    if (!engine_ || !peer.id)
        return;
    auto parsed = tunnel::parseAccept(payload);
    if (auto *e = std::get_if<std::string>(&parsed)) {
        messageErrors_.Add({{"reason", "bad_message"}}).Increment();
        handshakeFailed(peer, "bad_message", "accept: " + *e);
        return;
    }
    const auto &m = std::get<tunnel::AcceptMessage>(parsed);
    auto it = links_.find(peer.id->str());
    if (it == links_.end() || !it->second->initiator || it->second->conn != peer.conn ||
        it->second->pendingEpoch != m.epoch) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return;
    }
    Link &link = *it->second;
    bool fresh = m.epoch == 1;
    if (fresh) {
        bool acceptable = (m.cipher == fwd::Cipher::Aes256Gcm &&
                           choice_ != fwd::CipherChoice::ChaCha20Poly1305) ||
                          (m.cipher == fwd::Cipher::ChaCha20Poly1305 &&
                           choice_ != fwd::CipherChoice::Aes256Gcm);
        if (!acceptable) {
            handshakeFailed(peer, "cipher",
                            std::string("the peer chose ") + fwd::cipherName(m.cipher) +
                                ", which tunnel.cipher here does not allow");
            teardown(link.id, "no common cipher", true);
            return;
        }
        link.cipher = m.cipher;
    } else if (m.index != link.session->peerIndex) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return;
    }
    std::uint8_t secret[fwd::exporterSecretSize];
    if (!exporterSecret(link, m.epoch, secret)) {
        handshakeFailed(peer, "keys", "no TLS exporter");
        return;
    }
    auto keys = tunnel::deriveEpochKeys(link.role, link.pendingKx, m.kx, secret, m.epoch,
                                        link.cipher, tunnel::libraryFor(link.cipher),
                                        engine_->workerCount());
    sodium_memzero(secret, sizeof(secret));
    link.pendingKx = {}; // wiped
    if (auto *e = std::get_if<std::string>(&keys)) {
        handshakeFailed(peer, "keys", *e);
        teardown(link.id, *e, true);
        return;
    }
    auto &epochKeys = std::get<tunnel::EpochKeys>(keys);
    if (fresh) {
        link.session = std::make_unique<fwd::Session>(link.localIndex, m.index);
        link.mac = m.mac;
        setEndpoint(link, m.port);
    }
    fwd::KeySlots::Retired retired;
    std::uint64_t graceEnd = nowNs() + std::uint64_t(std::chrono::nanoseconds(keyGrace).count());
    link.session->keys.installRx(m.epoch, std::move(epochKeys.rx), graceEnd, retired);
    link.session->keys.installTx(m.epoch, std::move(epochKeys.tx), retired);
    retire(retired);
    link.epoch = m.epoch;
    link.pendingEpoch = 0;
    link.nextRekey = SteadyClock::now() + std::chrono::seconds(config_.tunnel.rekeySeconds);
    republish();
    send(link.conn, tunnel::Confirm, tunnel::encode(tunnel::ConfirmMessage{m.epoch}));
    established(link);
    updateMetrics();
}

// Keys are installed both ways: the session is up, or it took new keys.
void TunnelService::established(Link &link)
{
    bool wasUp = link.state == State::Up;
    link.state = State::Up;
    if (wasUp) {
        ++link.rekeys;
        link.lastRekey = unixNow();
        rekeysTotal_.Add({}).Increment();
        publish_("tunnel_rekey", {{"peer", link.id}, {"epoch", link.epoch}});
        return;
    }
    link.since = unixNow();
    std::string endpoint = endpointString(link.endpoint, link.endpointLen);
    LOG(Info, "tunnel", "tunnel with %s (%s) is up: %s, endpoint %s", link.id.c_str(),
        link.node.c_str(), fwd::cipherName(link.cipher), endpoint.c_str());
    publish_("tunnel_up", {{"peer", link.id},
                           {"node", link.node},
                           {"cipher", fwd::cipherName(link.cipher)},
                           {"endpoint", endpoint}});
}

void TunnelService::onConfirm(const PeerInfo &peer, std::span<const std::uint8_t> payload)
{
    if (!engine_ || !peer.id)
        return;
    auto parsed = tunnel::parseConfirm(payload);
    if (auto *e = std::get_if<std::string>(&parsed)) {
        messageErrors_.Add({{"reason", "bad_message"}}).Increment();
        handshakeFailed(peer, "bad_message", "confirm: " + *e);
        return;
    }
    const auto &m = std::get<tunnel::ConfirmMessage>(parsed);
    auto it = links_.find(peer.id->str());
    if (it == links_.end() || it->second->initiator || it->second->conn != peer.conn ||
        it->second->pendingEpoch != m.epoch || !it->second->pendingTx) {
        messageErrors_.Add({{"reason", "unexpected"}}).Increment();
        return;
    }
    Link &link = *it->second;
    fwd::KeySlots::Retired retired;
    link.session->keys.installTx(m.epoch, std::move(link.pendingTx), retired);
    retire(retired);
    link.epoch = m.epoch;
    link.pendingEpoch = 0;
    established(link);
    updateMetrics();
}

void TunnelService::onClose(const PeerInfo &peer, std::span<const std::uint8_t> payload)
{
    if (!peer.id)
        return;
    auto parsed = tunnel::parseClose(payload);
    if (std::holds_alternative<std::string>(parsed)) {
        messageErrors_.Add({{"reason", "bad_message"}}).Increment();
        return;
    }
    auto it = links_.find(peer.id->str());
    if (it == links_.end() || it->second->conn != peer.conn)
        return;
    teardown(peer.id->str(),
             "the peer closed the tunnel: " + std::get<tunnel::CloseMessage>(parsed).reason, false);
}

void TunnelService::retire(fwd::KeySlots::Retired &retired)
{
    if (engine_)
        engine_->retireKeys(std::move(retired));
}

void TunnelService::teardown(const std::string &peerId, const std::string &reason, bool tellPeer)
{
    auto it = links_.find(peerId);
    if (it == links_.end())
        return;
    std::unique_ptr<Link> link = std::move(it->second);
    links_.erase(it);
    if (tellPeer)
        send(link->conn, tunnel::Close, tunnel::encode(tunnel::CloseMessage{reason}));
    bool wasUp = link->state == State::Up;
    if (engine_) {
        republish(); // without it: no worker finds the session from the next batch on
        if (link->session)
            engine_->retire(std::move(link->session));
        if (link->pendingTx) {
            fwd::KeySlots::Retired r;
            r.tx = std::move(link->pendingTx);
            engine_->retireKeys(std::move(r));
        }
    }
    if (wasUp) {
        LOG(Info, "tunnel", "tunnel with %s is down: %s", peerId.c_str(), reason.c_str());
        if (tickTimer_) // while stopping, monitors have had "stopping"
            publish_("tunnel_down", {{"peer", peerId}, {"node", link->node}, {"reason", reason}});
    }
    updateMetrics();
}

void TunnelService::republish()
{
    if (!engine_)
        return;
    std::vector<fwd::Peer> peers;
    int family = engine_->config().listen.ss_family;
    for (auto &[id, link] : links_) {
        if (!link->session || !link->endpointLen)
            continue;
        if (link->endpoint.ss_family != family) {
            link->lastError = "the peer's address is of another family than tunnel.listen";
            continue;
        }
        fwd::Peer p;
        p.session = link->session.get();
        p.mac = link->mac;
        p.endpoint = link->endpoint;
        p.endpointLen = link->endpointLen;
        p.slot = link->slot;
        peers.push_back(p);
    }
    std::unique_ptr<const fwd::PeerTable> table;
    if (int err = fwd::PeerTable::build(peers, engine_->config().maxPeers, table); err < 0) {
        Log::writeLimited("tunnel-table", LogLevel::Error, "tunnel",
                          "cannot build the peer table: %s", strerror(-err));
        return;
    }
    engine_->publish(std::move(table));
}

void TunnelService::onEngineEvents()
{
    if (!engine_)
        return;
    std::vector<fwd::EngineEvent> events;
    engine_->drainEvents(events);
    bool changed = false;
    for (const auto &ev : events) {
        Link *link = nullptr;
        for (auto &[id, l] : links_)
            if (l->localIndex == ev.localIndex)
                link = l.get();
        if (!link)
            continue;
        switch (ev.kind) {
        case fwd::EngineEvent::Kind::EndpointChanged: {
            std::string from = endpointString(link->endpoint, link->endpointLen);
            link->endpoint = ev.from;
            link->endpointLen = ev.fromLen;
            std::string to = endpointString(link->endpoint, link->endpointLen);
            if (from == to)
                break;
            changed = true;
            LOG(Info, "tunnel", "tunnel peer %s moved from %s to %s", link->id.c_str(),
                from.c_str(), to.c_str());
            publish_("tunnel_endpoint_changed", {{"peer", link->id}, {"from", from}, {"to", to}});
            break;
        }
        case fwd::EngineEvent::Kind::KeyExhausted:
            if (link->initiator && link->state == State::Up && !link->pendingEpoch)
                offer(*link, link->epoch + 1);
            break;
        }
    }
    if (changed)
        republish();
}

void TunnelService::tick()
{
    tickTimer_ = loop_.addTimer(std::chrono::seconds(1), [this] { tick(); });
    if (!engine_)
        return;
    auto now = SteadyClock::now();
    std::vector<std::pair<std::string, std::string>> expired;
    for (auto &[id, link] : links_) {
        bool waiting = link->pendingEpoch && now - link->pendingSince > handshakeTimeout;
        if (waiting) {
            handshakeFailures_.Add({{"reason", "timeout"}}).Increment();
            if (link->state != State::Up) {
                expired.emplace_back(id, "no answer to the key exchange within " +
                                             std::to_string(handshakeTimeout.count()) + " s");
                continue;
            }
            // A rekey that got no answer: the current keys stay, try again.
            link->pendingEpoch = 0;
            if (link->pendingTx) {
                fwd::KeySlots::Retired r;
                r.tx = std::move(link->pendingTx);
                engine_->retireKeys(std::move(r));
            }
        }
        if (link->initiator && link->state == State::Up && !link->pendingEpoch &&
            now >= link->nextRekey) {
            link->nextRekey = now + std::chrono::seconds(config_.tunnel.rekeySeconds);
            offer(*link, link->epoch + 1);
        }
    }
    for (const auto &[id, why] : expired) {
        teardown(id, why, true);
        // Try again on the next tick's maybeInitiate, after a pause.
    }
    for (const auto &[conn, info] : channel_)
        if (info.id)
            maybeInitiate(info.id->str());
    engine_->reclaim();
    updateMetrics();
}

void TunnelService::updateMetrics()
{
    std::map<std::string, double> states = {
        {"offered", 0}, {"accepted", 0}, {"up", 0}, {"channel", double(channel_.size())}};
    for (const auto &[id, link] : links_)
        states[stateName(link->state)] += 1;
    for (const auto &[s, n] : states)
        peerGauge_.Add({{"state", s}}).Set(n);
    if (!engine_)
        return;
    for (auto &[id, link] : links_) {
        auto t = engine_->peerTotals(link->slot);
        const auto &peer = id; // clang before 16 cannot capture a structured binding
        auto bump = [&](prometheus::Family<prometheus::Counter> &family, const char *direction,
                        std::uint64_t value, std::uint64_t &seen) {
            if (value > seen)
                family.Add({{"peer", peer}, {"direction", direction}})
                    .Increment(double(value - seen));
            seen = value;
        };
        bump(packets_, "rx", t.rxPackets, link->seenRxPackets);
        bump(packets_, "tx", t.txPackets, link->seenTxPackets);
        bump(bytes_, "rx", t.rxBytes, link->seenRxBytes);
        bump(bytes_, "tx", t.txBytes, link->seenTxBytes);
    }
    auto totals = engine_->totals();
    for (std::size_t i = 0; i < fwd::dropReasonCount && i < std::size(seenDrops_); ++i) {
        std::uint64_t v = totals.drops[i];
        if (v > seenDrops_[i])
            drops_.Add({{"reason", fwd::dropReasonName(fwd::DropReason(i))}})
                .Increment(double(v - seenDrops_[i]));
        seenDrops_[i] = v;
    }
    auto rings = engine_->ringOccupancy();
    auto names = engine_->ringNames();
    for (std::size_t i = 0; i < rings.size() && i < names.size(); ++i)
        ringOccupancy_.Add({{"ring", names[i]}}).Set(rings[i]);
}

json TunnelService::status() const
{
    if (!engine_)
        return {{"state", "unavailable"}, {"reason", problem_.empty() ? "not started" : problem_}};
    int up = 0;
    for (const auto &[id, link] : links_)
        up += link->state == State::Up;
    return {{"state", "ok"},
            {"interface", config_.tunnel.interface},
            {"listen", config_.tunnel.listen},
            {"port", engine_->boundPort()},
            {"io", io_},
            {"workers", workers_},
            {"mtu", mtu_},
            {"mac", tunnel::macString(engine_->mac())},
            {"aes_instructions", hasAes_},
            {"sessions", links_.size()},
            {"up", up}};
}

json TunnelService::describePeer(const std::optional<spiffe::SpiffeId> &id) const
{
    if (!id)
        return nullptr;
    auto it = links_.find(id->str());
    if (it == links_.end())
        return nullptr;
    const Link &l = *it->second;
    json out = {{"state", stateName(l.state)},
                {"initiator", l.initiator},
                {"cipher", fwd::cipherName(l.cipher)},
                {"endpoint", endpointString(l.endpoint, l.endpointLen)},
                {"mac", tunnel::macString(l.mac)},
                {"epoch", l.epoch},
                {"since", l.since},
                {"age_s", std::max(0.0, unixNow() - l.since)},
                {"last_rekey", l.lastRekey > 0 ? json(l.lastRekey) : json()},
                {"rekeys", l.rekeys}};
    if (engine_) {
        auto t = engine_->peerTotals(l.slot);
        out["rx_packets"] = t.rxPackets - l.baseRxPackets;
        out["tx_packets"] = t.txPackets - l.baseTxPackets;
        out["rx_bytes"] = t.rxBytes - l.baseRxBytes;
        out["tx_bytes"] = t.txBytes - l.baseTxBytes;
        json drops = json::object();
        for (std::size_t i = 0; i < fwd::dropReasonCount; ++i)
            if (t.drops[i] > l.baseDrops[i])
                drops[fwd::dropReasonName(fwd::DropReason(i))] = t.drops[i] - l.baseDrops[i];
        out["drops"] = drops;
    }
    return out;
}

} // namespace meshd
