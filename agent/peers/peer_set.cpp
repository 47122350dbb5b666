// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_set.h"

#include <algorithm>
#include <variant>

#include "address.h"
#include "clock.h"

namespace meshd {

PeerSet::PeerSet(EventLoop &loop, const Config::Spiffe &config, Dial dial)
    : loop_(loop), config_(config), dial_(std::move(dial))
{
    for (const auto &p : config_.peers) {
        Peer peer(p, spiffe::Backoff(std::chrono::milliseconds(config_.peerRetryMs),
                                     std::chrono::milliseconds(
                                         std::max<std::uint32_t>(60000, config_.peerRetryMs))));
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

PeerSet::~PeerSet() { cancelRetries(); }

void PeerSet::scheduleDial(std::size_t index, bool failed)
{
    Peer &p = peers_[index];
    if (p.retry)
        return;
    auto delay = failed ? p.backoff.next() : std::chrono::milliseconds(config_.peerRetryMs);
    p.retryAt = std::chrono::steady_clock::now() + delay;
    p.retry = loop_.addTimer(delay, [this, index] {
        peers_[index].retry = 0;
        dial_(index);
    });
}

void PeerSet::redialFrom(const std::string &host)
{
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        Peer &p = peers_[i];
        if (p.conn != 0 || p.retry == 0 || p.host != host)
            continue;
        loop_.cancelTimer(p.retry);
        p.retry = 0;
        dial_(i);
    }
}

bool PeerSet::isPeerHost(const std::string &host) const
{
    return std::any_of(peers_.begin(), peers_.end(), [&](const Peer &p) { return p.host == host; });
}

void PeerSet::cancelRetries()
{
    for (auto &p : peers_)
        if (p.retry) {
            loop_.cancelTimer(p.retry);
            p.retry = 0;
        }
}

PeerLimits::Verdict PeerLimits::admit(const std::vector<Pending> &pending, std::size_t connections,
                                      const std::string &source, bool known)
{
    std::size_t fromSource = 0;
    for (const auto &p : pending)
        fromSource += p.inbound && p.source == source;
    if (fromSource >= maxPendingPerSource)
        return {"handshakes in progress from one source (an IPv4 address or an IPv6 /64)", 0};
    if (connections < maxConnections && pending.size() < maxPending)
        return {};
    // Full: the oldest inbound connection that has sent nothing gives way;
    // for a configured peer, the oldest one from any unknown source does.
    const Pending *victim = nullptr;
    auto older = [&](const Pending &p) { return !victim || p.since < victim->since; };
    for (const auto &p : pending)
        if (p.inbound && !p.known && p.silent && older(p))
            victim = &p;
    if (!victim && known)
        for (const auto &p : pending)
            if (p.inbound && !p.known && older(p))
                victim = &p;
    if (victim)
        return {nullptr, victim->id};
    return {connections >= maxConnections ? "connections" : "handshakes in progress", 0};
}

bool TokenBucket::take(std::chrono::steady_clock::time_point now)
{
    if (last_ != std::chrono::steady_clock::time_point{})
        tokens_ =
            std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
    if (tokens_ < 1)
        return false;
    tokens_ -= 1;
    return true;
}

} // namespace meshd
