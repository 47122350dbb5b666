// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_transport.h"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "tls.h"

namespace meshd {

using SteadyClock = std::chrono::steady_clock;

const char *PeerTransport::stateName(State state)
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

PeerTransport::PeerTransport(EventLoop &loop, Owner &owner, std::uint64_t id, UniqueFD fd,
                             bool outbound, std::string endpoint)
    : loop_(loop), owner_(owner), id_(id), fd_(std::move(fd)), outbound_(outbound),
      endpoint_(std::move(endpoint))
{
    lastRx_ = lastTx_ = SteadyClock::now();
    int one = 1;
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

PeerTransport::~PeerTransport()
{
    if (watched_)
        loop_.removeFd(fd_.get());
}

int PeerTransport::watch(std::function<void(std::uint32_t)> ready)
{
    events_ = outbound_ ? EPOLLIN | EPOLLOUT : EPOLLIN;
    int err = loop_.addFd(fd_.get(), events_, std::move(ready), "peer");
    if (err == 0)
        watched_ = true;
    return err;
}

void PeerTransport::startTls(std::shared_ptr<const spiffe::TlsContext> context,
                             std::optional<spiffe::Authorizer> expected)
{
    tls_ = std::make_unique<spiffe::TlsSession>(std::move(context), fd_.get(), !outbound_,
                                                std::move(expected));
    state_ = State::Handshaking;
    started_ = SteadyClock::now();
}

void PeerTransport::updateEvents(std::uint32_t want)
{
    if (want != events_) {
        events_ = want;
        loop_.modifyFd(fd_.get(), want);
    }
}

void PeerTransport::wantWrite()
{
    if (events_ != (EPOLLIN | EPOLLOUT))
        updateEvents(EPOLLIN | EPOLLOUT);
}

bool PeerTransport::stillTrusted(const spiffe::TlsContext &context, std::string *why) const
{
    if (!tls_ || state_ == State::Connecting || state_ == State::Handshaking) {
        if (why)
            *why = "the handshake is not done";
        return false;
    }
    return tls_->rejudge(context, why) == spiffe::PeerVerdict::Ok;
}

bool PeerTransport::silent() const
{
    // The handshake state leaves TLS_ST_BEFORE with the first message read
    // (SSL_in_before() turns false as soon as SSL_accept() has run once).
    return state_ == State::Handshaking && tls_ && SSL_get_state(tls_->native()) == TLS_ST_BEFORE;
}

bool PeerTransport::advance(std::uint32_t events)
{
    if (state_ == State::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return true;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            // Not a handshake: nobody answered.
            owner_.connectFailed(*this, std::string("connect: ") + strerror(err));
            return false;
        }
        if (!owner_.connected(*this))
            return false;
    }
    if (state_ == State::Handshaking) {
        switch (tls_->handshake()) {
        case spiffe::TlsSession::Status::WantRead:
            updateEvents(EPOLLIN);
            return true;
        case spiffe::TlsSession::Status::WantWrite:
            updateEvents(EPOLLIN | EPOLLOUT);
            return true;
        case spiffe::TlsSession::Status::Closed:
        case spiffe::TlsSession::Status::Failed: {
            auto verdict = tls_->verdict();
            std::string result = verdict == spiffe::PeerVerdict::Ok
                                     ? "tls_error"
                                     : spiffe::peerVerdictName(verdict);
            std::string why = tls_->error().empty() ? "the peer closed the connection"
                                                    : tls_->error();
            owner_.handshakeFailed(*this, result, why);
            return false;
        }
        case spiffe::TlsSession::Status::Done:
            break;
        }
        // On TLS 1.3 a client is Done before the server has judged its
        // SVID: the handshake counts as ok once the peer's hello arrives.
        handshakeSeconds_ = std::chrono::duration<double>(SteadyClock::now() - started_).count();
        peerId_ = tls_->peerId();
        peerNotAfter_ = tls_->peerNotAfter();
        state_ = State::Hello;
        LOG(Debug, "peers", "TLS with %s (%s) in %.1f ms", endpoint_.c_str(),
            peerId_ ? peerId_->str().c_str() : "?", handshakeSeconds_ * 1000);
        owner_.tlsUp(*this);
    }
    if (!flush())
        return false;
    if (!receive())
        return false;
    updateEvents(out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
    return true;
}

void PeerTransport::queue(std::uint8_t type, std::span<const std::uint8_t> payload)
{
    std::size_t before = out_.size();
    encodeFrame(type, payload, out_);
    ++messagesOut;
    bytesOut += out_.size() - before;
}

bool PeerTransport::flush()
{
    while (!out_.empty()) {
        std::size_t written = 0;
        auto st = tls_->write(out_, written);
        out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(written));
        if (written > 0)
            lastTx_ = SteadyClock::now();
        if (st == spiffe::TlsSession::Status::WantRead ||
            st == spiffe::TlsSession::Status::WantWrite)
            return true;
        if (st == spiffe::TlsSession::Status::Closed || st == spiffe::TlsSession::Status::Failed) {
            owner_.ioFailed(*this, "write: " + tls_->error());
            return false;
        }
    }
    return true;
}

bool PeerTransport::receive()
{
    std::vector<std::uint8_t> data;
    auto st = tls_->read(data, maxReadPerTurn);
    if (!data.empty()) {
        lastRx_ = SteadyClock::now();
        if (!decoder_.feed(data)) {
            owner_.badFrame(*this, decoder_.error());
            return false;
        }
        while (auto f = decoder_.next()) {
            ++messagesIn;
            bytesIn += frame::headerSize + f->payload.size();
            if (!owner_.frame(*this, *f))
                return false;
        }
        if (!decoder_.error().empty()) {
            owner_.badFrame(*this, decoder_.error());
            return false;
        }
    }
    if (st == spiffe::TlsSession::Status::Closed) {
        owner_.closedByPeer(*this);
        return false;
    }
    if (st == spiffe::TlsSession::Status::Failed) {
        owner_.ioFailed(*this, "read: " + tls_->error());
        return false;
    }
    if (!flush()) // a reply (or TLS's own records) may be waiting
        return false;
    // Bytes OpenSSL already decrypted raise no epoll event: come back for
    // them on the next turn, after the loop has served everything else.
    if (tls_->pending())
        owner_.repumpLater(*this);
    return true;
}

bool PeerTransport::exportKeyingMaterial(std::string_view label,
                                         std::span<const std::uint8_t> context,
                                         std::span<std::uint8_t> out) const
{
    return tls_ && state_ != State::Handshaking && state_ != State::Connecting &&
           tls_->exportKeyingMaterial(label, context, out);
}

std::optional<spiffe::SpiffeId> PeerTransport::localId() const
{
    if (!tls_)
        return std::nullopt;
    return tls_->context().svid().id;
}

void PeerTransport::shutdown()
{
    if (tls_ && state_ != State::Handshaking)
        tls_->shutdown();
    if (watched_) {
        loop_.removeFd(fd_.get());
        watched_ = false;
    }
}

} // namespace meshd
