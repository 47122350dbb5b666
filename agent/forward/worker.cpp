// SPDX-License-Identifier: GPL-2.0-or-later
#include "worker.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace meshd::forward {

namespace {
constexpr std::uint64_t nsPerSecond = 1000000000ull;
// At most one event of each kind per peer slot and worker in this time.
constexpr std::uint64_t reportInterval = 100000000ull;
// How long a worker waits for its UDP socket to drain before it drops.
constexpr int writableTimeoutMs = 100;
constexpr std::uint32_t ethHeaderSize = 14;

void pinTo(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
}
} // namespace

std::uint64_t forwardNow() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * nsPerSecond + std::uint64_t(ts.tv_nsec);
}

bool sealDatagram(FrameView &v, wire::PacketType type, const Session &session, const TxKey &key,
                  std::uint64_t counter, unsigned worker) noexcept
{
    Aead *aead = key.aead(worker);
    std::uint32_t payload = v.length;
    if (!aead || v.tailroom() < wire::tagSize || !v.prepend(wire::headerSize))
        return false;
    wire::Header header{type, key.phase(), session.peerIndex, counter};
    wire::encode(header, v.data());
    if (!aead->seal(counter, v.data(), wire::headerSize, v.data() + wire::headerSize, payload))
        return false;
    v.append(wire::tagSize);
    return true;
}

RxResult openDatagram(FrameView &v, const PeerTable *table, unsigned worker,
                      std::uint64_t now) noexcept
{
    RxResult r;
    wire::Header header;
    wire::ParseError error = wire::decode(v.data(), v.length, header);
    if (error != wire::ParseError::None) {
        r.reason = dropReasonFor(error);
        return r;
    }
    const Peer *peer = table ? table->byIndex(header.receiverIndex) : nullptr;
    if (!peer) {
        r.reason = DropReason::UnknownSession;
        return r;
    }
    r.peer = peer; // from here on, drops count for the peer too
    RxKey *key = peer->session->keys.openFor(header.keyPhase, now);
    Aead *aead = key ? key->aead(worker) : nullptr;
    if (!aead) {
        r.reason = DropReason::NoKey;
        return r;
    }
    ReplayVerdict verdict = key->replay().check(header.counter);
    if (verdict != ReplayVerdict::Ok) {
        r.reason = dropReasonFor(verdict);
        return r;
    }
    std::size_t payload = v.length - wire::minDatagram;
    if (!aead->open(header.counter, v.data(), wire::headerSize, v.data() + wire::headerSize,
                    payload)) {
        r.reason = DropReason::BadTag;
        return r;
    }
    verdict = key->replay().update(header.counter);
    if (verdict != ReplayVerdict::Ok) {
        r.reason = dropReasonFor(verdict);
        return r;
    }
    if (header.type == wire::PacketType::Keepalive) {
        r.verdict = RxVerdict::Keepalive;
        return r;
    }
    if (payload < ethHeaderSize) {
        r.reason = DropReason::Runt;
        return r;
    }
    v.trimFront(wire::headerSize);
    v.trimBack(wire::tagSize);
    r.verdict = RxVerdict::Data;
    return r;
}

Worker::~Worker()
{
    if (epoll_ >= 0)
        ::close(epoll_);
}

int Worker::init()
{
    if (!s_.mesh || !s_.udp || !s_.pool || !s_.peers || !s_.reclaimer || !s_.counters ||
        !s_.peerCounters || !s_.events || s_.stopFd < 0 || !s_.stopping)
        return -EINVAL;
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0)
        return -errno;
    int fds[] = {s_.mesh->fd(), s_.udp->fd(), s_.stopFd};
    for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0)
            return -errno;
    }
    endpointReported_ = std::make_unique<std::uint64_t[]>(s_.maxPeers);
    exhaustedReported_ = std::make_unique<std::uint64_t[]>(s_.maxPeers);
    if (s_.keepaliveNs) {
        lastTx_ = std::make_unique<std::uint64_t[]>(s_.maxPeers);
        lastTxAt_ = std::make_unique<std::uint64_t[]>(s_.maxPeers);
    }
    return 0;
}

void Worker::run()
{
    if (s_.cpu >= 0)
        pinTo(s_.cpu);
    std::uint64_t nextKeepalive = 0;
    s_.reclaimer->online(s_.index);
    for (;;) {
        for (;;) {
            std::uint64_t now = forwardNow();
            unsigned work = udpToMesh(now);
            work += meshToUdp(now);
            if (s_.keepaliveNs && now >= nextKeepalive) {
                keepalives(now);
                nextKeepalive = now + nsPerSecond;
            }
            signalEvents();
            s_.reclaimer->quiescent(s_.index);
            if (!work || s_.stopping->load(std::memory_order_relaxed))
                break;
        }
        if (s_.stopping->load(std::memory_order_relaxed))
            break;
        int timeout = -1;
        if (s_.keepaliveNs) {
            std::uint64_t now = forwardNow();
            timeout = nextKeepalive > now ? int((nextKeepalive - now) / 1000000 + 1) : 0;
        }
        s_.reclaimer->offline(s_.index);
        epoll_event events[3];
        int n = ::epoll_wait(epoll_, events, 3, timeout);
        s_.reclaimer->online(s_.index);
        bool stop = false;
        for (int i = 0; i < n; ++i)
            stop |= events[i].data.fd == s_.stopFd;
        if (stop)
            break;
    }
    s_.reclaimer->offline(s_.index);
}

unsigned Worker::udpToMesh(std::uint64_t now) noexcept
{
    std::uint32_t frames[udpBatch];
    Endpoint from[udpBatch];
    unsigned n = s_.udp->receive(*s_.pool, frames, from, udpBatch);
    WorkerCounters &c = *s_.counters;
    if (s_.udp->tooBig)
        c.drop(DropReason::TooBig, std::exchange(s_.udp->tooBig, 0u));
    if (s_.udp->poolEmpty)
        c.drop(DropReason::PoolEmpty, std::exchange(s_.udp->poolEmpty, 0u));
    if (n == 0)
        return 0;

    const PeerTable *table = s_.peers->load();
    std::uint32_t deliver[udpBatch];
    unsigned m = 0;
    for (unsigned i = 0; i < n; ++i) {
        FrameView v = s_.pool->view(frames[i]);
        RxResult r = openDatagram(v, table, s_.index, now);
        if (r.verdict == RxVerdict::Drop) {
            c.drop(r.reason);
            if (r.peer)
                WorkerCounters::add(s_.peerCounters[r.peer->slot].drops[std::size_t(r.reason)]);
            s_.pool->release(frames[i]);
            continue;
        }
        if (!sameEndpoint(from[i].addr, r.peer->endpoint))
            report(EngineEvent::Kind::EndpointChanged, *r.peer, &from[i], now);
        if (r.verdict == RxVerdict::Keepalive) {
            WorkerCounters::add(c.rxKeepalives);
            s_.pool->release(frames[i]);
            continue;
        }
        WorkerCounters::add(c.rxPackets);
        WorkerCounters::add(c.rxBytes, v.length);
        PeerCounters &pc = s_.peerCounters[r.peer->slot];
        WorkerCounters::add(pc.rxPackets);
        WorkerCounters::add(pc.rxBytes, v.length);
        s_.pool->save(frames[i], v);
        deliver[m++] = frames[i];
    }
    if (m) {
        unsigned taken = s_.mesh->transmit(*s_.pool, deliver, m);
        if (taken < m)
            c.drop(DropReason::RingFull, m - taken);
        for (unsigned i = 0; i < m; ++i)
            s_.pool->release(deliver[i]);
    }
    return n;
}

void Worker::stage(std::uint32_t frame, const Peer *peer) noexcept
{
    staged_[stagedCount_++] = {frame, peer};
}

unsigned Worker::meshToUdp(std::uint64_t now) noexcept
{
    std::uint32_t frames[meshBatch];
    unsigned n = s_.mesh->receive(*s_.pool, frames, meshBatch);
    WorkerCounters &c = *s_.counters;
    if (std::uint32_t d = s_.mesh->takeTooBig())
        c.drop(DropReason::TooBig, d);
    if (std::uint32_t d = s_.mesh->takePoolEmpty())
        c.drop(DropReason::PoolEmpty, d);
    if (n == 0)
        return 0;

    const PeerTable *table = s_.peers->load();
    std::span<const Peer> all = table ? table->peers() : std::span<const Peer>();
    for (unsigned i = 0; i < n; ++i) {
        FrameView v = s_.pool->view(frames[i]);
        const std::uint8_t *dst = v.data();
        const Peer *peer = isGroupMac(dst) || !table ? nullptr : table->byMac(dst);
        if (peer) {
            if (stagedCount_ == txStage)
                sealAndSend(now);
            stage(frames[i], peer);
            continue;
        }
        if (all.empty()) {
            c.drop(DropReason::NoKey); // no peer to send to
            s_.pool->release(frames[i]);
            continue;
        }
        // Broadcast, multicast, unknown unicast: one copy per further peer.
        for (std::size_t k = 1; k < all.size(); ++k) {
            std::uint32_t copy = s_.pool->acquire();
            if (copy == noFrame) {
                c.drop(DropReason::PoolEmpty);
                continue;
            }
            FrameView cv = s_.pool->view(copy);
            cv.offset = v.offset;
            cv.length = v.length;
            std::memcpy(cv.data(), v.data(), v.length);
            s_.pool->save(copy, cv);
            if (stagedCount_ == txStage)
                sealAndSend(now);
            stage(copy, &all[k]);
        }
        if (stagedCount_ == txStage)
            sealAndSend(now);
        stage(frames[i], &all[0]);
    }
    sealAndSend(now);
    return n;
}

void Worker::sealAndSend(std::uint64_t now) noexcept
{
    WorkerCounters &c = *s_.counters;
    unsigned n = stagedCount_;
    stagedCount_ = 0;
    // Counters: one reserve() per peer and batch, in staging order.
    constexpr std::uint64_t unassigned = UINT64_MAX, dropped = UINT64_MAX - 1;
    for (unsigned i = 0; i < n; ++i)
        counters_[i] = unassigned;
    for (unsigned i = 0; i < n; ++i) {
        if (counters_[i] != unassigned)
            continue;
        const Peer *peer = staged_[i].peer;
        std::uint32_t count = 0;
        for (unsigned j = i; j < n; ++j)
            count += staged_[j].peer == peer && counters_[j] == unassigned;
        TxKey *key = peer->session->keys.sealKey();
        std::uint64_t first = 0;
        bool ok = key && key->reserve(count, first);
        if (key && !ok)
            report(EngineEvent::Kind::KeyExhausted, *peer, nullptr, now);
        if (!ok)
            c.drop(key ? DropReason::CounterLimit : DropReason::NoKey, count);
        for (unsigned j = i; j < n; ++j)
            if (staged_[j].peer == peer && counters_[j] == unassigned) {
                counters_[j] = ok ? first++ : dropped;
                txKeys_[j] = key;
            }
    }

    unsigned m = 0;
    for (unsigned i = 0; i < n; ++i) {
        const Staged &st = staged_[i];
        if (counters_[i] == dropped) {
            s_.pool->release(st.frame);
            continue;
        }
        FrameView v = s_.pool->view(st.frame);
        std::uint32_t inner = v.length;
        TxKey *key = txKeys_[i]; // still alive: freed only after this batch's quiescent point
        if (!key || !sealDatagram(v, wire::PacketType::Data, *st.peer->session, *key, counters_[i],
                                  s_.index)) {
            c.drop(DropReason::NoKey);
            s_.pool->release(st.frame);
            continue;
        }
        s_.pool->save(st.frame, v);
        WorkerCounters::add(c.txPackets);
        WorkerCounters::add(c.txBytes, inner);
        PeerCounters &pc = s_.peerCounters[st.peer->slot];
        WorkerCounters::add(pc.txPackets);
        WorkerCounters::add(pc.txBytes, inner);
        out_[m++] = {st.frame, reinterpret_cast<const sockaddr *>(&st.peer->endpoint),
                     st.peer->endpointLen};
    }
    flush(m);
}

void Worker::flush(unsigned n) noexcept
{
    unsigned done = 0, failed = 0;
    while (done < n) {
        done += s_.udp->send(*s_.pool, out_ + done, n - done, failed);
        if (done < n && !waitWritable()) {
            s_.counters->drop(DropReason::RingFull, n - done);
            break;
        }
    }
    if (failed)
        s_.counters->drop(DropReason::SendFailed, failed);
    for (unsigned i = 0; i < n; ++i)
        s_.pool->release(out_[i].frame);
}

bool Worker::waitWritable() noexcept
{
    // Backpressure: the socket buffer is full, so this worker stops taking
    // frames from the mesh side until it drains (the ring there fills and
    // the kernel drops, counted as its ring drops).
    pollfd fds[2] = {{s_.udp->fd(), POLLOUT, 0}, {s_.stopFd, POLLIN, 0}};
    int rc = ::poll(fds, 2, writableTimeoutMs);
    return rc > 0 && (fds[0].revents & POLLOUT) && !(fds[1].revents & POLLIN);
}

void Worker::keepalives(std::uint64_t now) noexcept
{
    const PeerTable *table = s_.peers->load();
    if (!table || !lastTx_)
        return;
    for (const Peer &peer : table->peers()) {
        std::uint64_t sent = 0;
        for (unsigned w = 0; w < s_.workers; ++w)
            sent += s_.allPeerCounters[w][peer.slot].txPackets.load(std::memory_order_relaxed);
        if (sent != lastTx_[peer.slot]) {
            lastTx_[peer.slot] = sent;
            lastTxAt_[peer.slot] = now;
            continue;
        }
        if (now - lastTxAt_[peer.slot] < s_.keepaliveNs)
            continue;
        lastTxAt_[peer.slot] = now;
        TxKey *key = peer.session->keys.sealKey();
        if (!key)
            continue; // no session yet: nothing to keep alive
        std::uint64_t counter = 0;
        if (!key->reserve(1, counter)) {
            report(EngineEvent::Kind::KeyExhausted, peer, nullptr, now);
            continue;
        }
        std::uint32_t frame = s_.pool->acquire();
        if (frame == noFrame) {
            s_.counters->drop(DropReason::PoolEmpty);
            continue;
        }
        FrameView v = s_.pool->view(frame);
        if (!sealDatagram(v, wire::PacketType::Keepalive, *peer.session, *key, counter, s_.index)) {
            s_.pool->release(frame);
            continue;
        }
        s_.pool->save(frame, v);
        WorkerCounters::add(s_.counters->txKeepalives);
        out_[0] = {frame, reinterpret_cast<const sockaddr *>(&peer.endpoint), peer.endpointLen};
        flush(1);
    }
}

void Worker::report(EngineEvent::Kind kind, const Peer &peer, const Endpoint *from,
                    std::uint64_t now) noexcept
{
    std::uint64_t &last = kind == EngineEvent::Kind::EndpointChanged
                              ? endpointReported_[peer.slot]
                              : exhaustedReported_[peer.slot];
    if (last && now - last < reportInterval)
        return;
    last = now;
    EngineEvent e{};
    e.kind = kind;
    e.localIndex = peer.session->localIndex;
    if (from) {
        e.from = from->addr;
        e.fromLen = from->len;
    }
    if (s_.events->push(e))
        eventQueued_ = true;
    else
        WorkerCounters::add(eventsDropped_);
}

void Worker::signalEvents() noexcept
{
    if (!eventQueued_ || s_.eventFd < 0)
        return;
    eventQueued_ = false;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(s_.eventFd, &one, sizeof(one));
}

} // namespace meshd::forward
