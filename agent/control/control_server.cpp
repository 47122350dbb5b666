// SPDX-License-Identifier: GPL-2.0-or-later
#include "control_server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <grp.h>
#include <optional>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <variant>
#include <vector>

#include "log.h"
#include "metrics.h"

namespace meshd {

namespace {

std::string errnoText(int err) { return strerror(err); }

// The gid of a group name; the buffer grows for groups with long member
// lists, up to 1 MiB (a group file's line past that is not a group we use).
std::optional<gid_t> groupId(const std::string &name)
{
    std::vector<char> buf(4096);
    for (;;) {
        struct group grbuf, *gr = nullptr;
        int err = getgrnam_r(name.c_str(), &grbuf, buf.data(), buf.size(), &gr);
        if (err == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 4);
            continue;
        }
        if (err != 0 || !gr)
            return std::nullopt;
        return gr->gr_gid;
    }
}

int makeParentDirectory(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == 0 || slash == std::string::npos)
        return 0;
    std::string dir = path.substr(0, slash);
    struct stat st;
    if (stat(dir.c_str(), &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    int err = makeParentDirectory(dir);
    if (err < 0)
        return err;
    if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

// The socket's directory must be meshd's own: a directory (not a link to
// one) that only its owner, root or meshd's user, can write to, unless it
// is sticky like /tmp. Otherwise another user could swap the socket or its
// lock for a link between bind and chmod. "" or what is wrong.
std::string checkSocketDirectory(const std::string &path)
{
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat st;
    if (lstat(dir.c_str(), &st) < 0)
        return "cannot inspect " + dir + ": " + errnoText(errno);
    if (S_ISLNK(st.st_mode))
        return "the directory of control socket " + path + ", " + dir +
               ", is a symbolic link; refusing to use it";
    if (!S_ISDIR(st.st_mode))
        return dir + " is not a directory";
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return "the directory of control socket " + path + ", " + dir + ", belongs to uid " +
               std::to_string(st.st_uid) + ", not to root or meshd's uid " +
               std::to_string(geteuid()) + "; refusing to use it";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        char mode[8];
        snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return "the directory of control socket " + path + ", " + dir +
               ", is writable by group or others (mode " + mode + "); refusing to use it";
    }
    return {};
}

double unixNow()
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec / 1000000) / 1000.0;
}

} // namespace

ControlServer::ControlServer(EventLoop &loop, const CommandRegistry &commands, Metrics &metrics)
    : loop_(loop), commands_(commands), metrics_(metrics)
{
}

ControlServer::~ControlServer() { stop(); }

std::string ControlServer::start(const Options &options)
{
    options_ = options;
    const std::string &path = options_.path;

    if (int err = makeParentDirectory(path); err < 0)
        return "cannot create the directory of control socket " + path + ": " + errnoText(-err);
    if (std::string err = checkSocketDirectory(path); !err.empty())
        return err;

    // The lock proves that no other meshd owns the socket, so a leftover
    // socket file can be removed without stealing a live daemon's socket.
    lockPath_ = path + ".lock";
    for (;;) {
        lock_.reset(open(lockPath_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!lock_.isValid())
            return "cannot open lock file " + lockPath_ + ": " + errnoText(errno);
        if (flock(lock_.get(), LOCK_EX | LOCK_NB) < 0) {
            int err = errno;
            lock_.reset();
            if (err == EWOULDBLOCK)
                return "another meshd is running on control socket " + path + " (" + lockPath_ +
                       " is held)";
            return "cannot lock " + lockPath_ + ": " + errnoText(err);
        }
        // A stopping meshd unlinks the lock file while holding it: if ours is
        // no longer the file at the path, lock the new one instead.
        struct stat held, named;
        if (fstat(lock_.get(), &held) == 0 && stat(lockPath_.c_str(), &named) == 0 &&
            held.st_ino == named.st_ino && held.st_dev == named.st_dev)
            break;
    }

    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return path + " exists and is not a socket; refusing to remove it";
        if (unlink(path.c_str()) < 0)
            return "cannot remove stale control socket " + path + ": " + errnoText(errno);
        LOG(Info, "control", "removed stale control socket %s", path.c_str());
    }

    listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_.isValid())
        return "cannot create control socket: " + errnoText(errno);
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path))
        return "control socket path " + path + " is too long";
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    // No window in which the socket is reachable with wider permissions.
    mode_t old = umask(0177);
    int rc = bind(listen_.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
    int bindErr = errno;
    umask(old);
    if (rc < 0)
        return "cannot bind control socket " + path + ": " + errnoText(bindErr);
    if (lstat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode))
        return "cannot inspect control socket " + path + " after binding it";
    socketIno_ = st.st_ino;
    socketDev_ = st.st_dev;
    if (std::string err = applyPermissions(); !err.empty())
        return err;
    resolveAdminGroup();
    if (listen(listen_.get(), SOMAXCONN) < 0)
        return "cannot listen on control socket " + path + ": " + errnoText(errno);
    if (int err = loop_.addFd(
            listen_.get(), EPOLLIN, [this](std::uint32_t) { onAccept(); }, "control-accept");
        err < 0)
        return "cannot watch control socket: " + errnoText(-err);
    LOG(Info, "control", "listening on %s", path.c_str());
    return {};
}

std::string ControlServer::applyPermissions()
{
    const std::string &path = options_.path;
    // Never follow what is at the path now: open it without following a
    // link and change it only if it is still the socket meshd bound.
    UniqueFD at(open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!at.isValid() || fstat(at.get(), &st) < 0)
        return "cannot open control socket " + path + ": " + errnoText(errno);
    if (!S_ISSOCK(st.st_mode) || st.st_ino != socketIno_ || st.st_dev != socketDev_)
        return path + " is no longer meshd's control socket (something replaced it); not "
                      "changing its mode or group";
    // chmod through the descriptor: fchmod does not reach a socket's inode
    // and fchmodat(AT_SYMLINK_NOFOLLOW) is the same /proc path in glibc.
    std::string self = "/proc/self/fd/" + std::to_string(at.get());
    if (chmod(self.c_str(), options_.mode) < 0)
        return "cannot set mode of " + path + ": " + errnoText(errno);
    if (options_.group.empty())
        return {};
    std::optional<gid_t> gid = groupId(options_.group);
    if (!gid) {
        if (options_.groupRequired)
            LOG(Warning, "control", "group \"%s\" does not exist; %s keeps its current group",
                options_.group.c_str(), path.c_str());
        return {};
    }
    if (fchownat(at.get(), "", static_cast<uid_t>(-1), *gid, AT_EMPTY_PATH) < 0)
        return "cannot give " + path + " to group " + options_.group + ": " + errnoText(errno);
    return {};
}

std::string ControlServer::reconfigure(const Options &options)
{
    std::string path = options_.path;
    options_ = options;
    options_.path = path; // moving the socket needs a restart
    resolveAdminGroup();
    return listen_.isValid() ? applyPermissions() : std::string();
}

void ControlServer::resolveAdminGroup()
{
    adminGid_.reset();
    if (options_.adminGroup.empty())
        return;
    adminGid_ = groupId(options_.adminGroup);
    if (!adminGid_)
        LOG(Info, "control",
            "admin group \"%s\" does not exist; only root and uid %u may change the mesh",
            options_.adminGroup.c_str(), static_cast<unsigned>(geteuid()));
}

std::string ControlServer::deniedReason(const Client &c, const std::string &cmd, ucred &cred) const
{
    // The credentials the kernel recorded at connect(), asked for at each
    // change, so that a reload that changes the admin group applies to every
    // open connection at once.
    cred = {};
    socklen_t len = sizeof(cred);
    if (getsockopt(c.fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return cmd + " changes state and the client's credentials cannot be read (" +
               errnoText(errno) + ")";
    if (cred.uid == 0 || cred.uid == geteuid())
        return {};
    if (adminGid_) {
        bool member = cred.gid == *adminGid_;
#ifdef SO_PEERGROUPS // Linux 4.13; a libc without it leaves supplementary groups out
        std::vector<gid_t> groups(64);
        for (int attempt = 0; !member && attempt < 2; ++attempt) {
            len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
            if (getsockopt(c.fd.get(), SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
                groups.resize(len / sizeof(gid_t));
                for (gid_t g : groups)
                    member = member || g == *adminGid_;
                break;
            }
            if (errno != ERANGE)
                break;
            groups.resize(len / sizeof(gid_t) + 1); // the kernel said how many
        }
#endif
        if (member)
            return {};
    }
    std::string who =
        "this client runs as uid " + std::to_string(cred.uid) + ", gid " + std::to_string(cred.gid);
    std::string self = std::to_string(geteuid());
    if (options_.adminGroup.empty())
        return cmd + " changes state and needs root or meshd's user (uid " + self +
               "; control.admin_group is empty); " + who;
    if (!adminGid_)
        return cmd + " changes state and needs root or meshd's user (uid " + self +
               "); the admin group \"" + options_.adminGroup + "\" does not exist; " + who;
    return cmd + " changes state and needs root, meshd's user (uid " + self +
           ") or membership of group \"" + options_.adminGroup + "\"; " + who + ", not a member";
}

void ControlServer::stop()
{
    while (!clients_.empty())
        drop(clients_.begin()->first, nullptr);
    if (shedTimer_) {
        loop_.cancelTimer(shedTimer_);
        shedTimer_ = 0;
    }
    if (listen_.isValid()) {
        loop_.removeFd(listen_.get());
        listen_.reset();
        unlink(options_.path.c_str());
    }
    if (lock_.isValid()) {
        unlink(lockPath_.c_str());
        lock_.reset();
    }
}

void ControlServer::pauseAccepting()
{
    // Out of fds: stop polling the listener briefly instead of spinning.
    acceptPaused_ = true;
    loop_.modifyFd(listen_.get(), 0);
    loop_.addTimer(std::chrono::milliseconds(200), [this] {
        acceptPaused_ = false;
        if (listen_.isValid())
            loop_.modifyFd(listen_.get(), EPOLLIN);
    });
}

void ControlServer::onAccept()
{
    for (;;) {
        int fd = accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            LOG_LIMITED("control-accept", Warning, "control", "accept failed: %s",
                        strerror(errno));
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pauseAccepting();
            return;
        }
        if (clients_.size() >= options_.maxClients) {
            std::string line =
                errorReply(nullptr, errc::unavailable,
                           "too many control clients (" + std::to_string(options_.maxClients) +
                               "); try again later");
            (void)!send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            close(fd);
            metrics_.controlClientsDropped.Add({{"reason", "client_limit"}}).Increment();
            LOG_LIMITED("control-limit", Warning, "control",
                        "refused a control client: limit of %zu reached", options_.maxClients);
            continue;
        }
        auto c = std::make_unique<Client>();
        c->id = nextId_++;
        c->fd.reset(fd);
        c->interest = EPOLLIN | EPOLLRDHUP;
        std::uint64_t id = c->id;
        if (loop_.addFd(fd, c->interest,
                        [this, id](std::uint32_t events) { onClientEvent(id, events); },
                        "control-client") < 0)
            continue;
        clients_[id] = std::move(c);
        metrics_.controlClients.Set(static_cast<double>(clients_.size()));
    }
}

void ControlServer::onClientEvent(std::uint64_t id, std::uint32_t events)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    Client &c = *it->second;
    if (events & EPOLLERR)
        return drop(id, nullptr);
    // Fully closed while an asynchronous command runs: nobody can read its
    // reply, and the hang-up would be reported on every turn until then.
    if ((events & EPOLLHUP) && c.busy)
        return drop(id, nullptr);
    if ((events & EPOLLOUT) && !flush(c))
        return;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && !c.eof && !c.hasInput()) {
        // Many clients are read in one turn: make room for this read now
        // rather than let the deferred shed() find the bound long passed.
        if (held_ + readChunk > maxHeldBytes) {
            shed(readChunk);
            if (clients_.find(id) == clients_.end())
                return;
        }
        if (!readInput(c))
            return;
    }
    serve(id);
}

void ControlServer::serve(std::uint64_t id)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    Client &c = *it->second;
    // A bounded number of requests per turn, and none while the client is
    // not reading its replies, so one client cannot hold up the loop.
    int budget = requestsPerTurn;
    auto turnEnd = Clock::now() + timePerTurn;
    c.serving = true;
    while (c.hasInput() && !c.busy && budget > 0 && c.out.size() - c.outOffset < outputHighWater &&
           Clock::now() < turnEnd) {
        std::optional<LineFramer::Item> next = nextItem(c);
        if (!next)
            break;
        --budget;
        LineFramer::Item &item = *next;
        if (c.monitor)
            continue; // a monitor stream takes no further requests
        if (item.kind == LineFramer::Item::Kind::TooLong) {
            metrics_.controlRequests.Add({{"command", "invalid"}, {"result", errc::badRequest}})
                .Increment();
            queue(c, errorReply(nullptr, errc::badRequest,
                                "request line longer than " + std::to_string(maxLineBytes) +
                                    " bytes; discarded"));
        } else {
            handleLine(c, item.line);
        }
    }
    c.serving = false;
    if (!flush(c))
        return;
    account(c);
    if (c.eof && !c.hasInput() && !c.busy && c.out.size() == c.outOffset)
        return drop(id, nullptr);
    if (c.hasInput() && !c.busy && c.out.size() - c.outOffset < outputHighWater)
        resumeSoon(c);
    updateInterest(c);
}

void ControlServer::resumeSoon(Client &c)
{
    if (c.resumeTimer)
        return;
    std::uint64_t id = c.id;
    c.resumeTimer = loop_.addTimer(Clock::duration::zero(), [this, id] {
        auto found = clients_.find(id);
        if (found == clients_.end())
            return;
        found->second->resumeTimer = 0;
        serve(id);
    });
}

bool ControlServer::readInput(Client &c)
{
    c.in.resize(readChunk);
    c.inOffset = 0;
    ssize_t n = recv(c.fd.get(), c.in.data(), c.in.size(), 0);
    const int err = errno;
    c.in.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n < 0) {
        if (err == EAGAIN || err == EINTR)
            return true;
        drop(c.id, nullptr);
        return false;
    }
    if (n == 0) {
        // Half-closed: answer what was asked, then close.
        c.eof = true;
    }
    account(c);
    return true;
}

std::optional<LineFramer::Item> ControlServer::nextItem(Client &c)
{
    // Feed the framer up to and including one newline at a time: each such
    // piece yields at most one item.
    while (c.hasInput()) {
        std::size_t nl = c.in.find('\n', c.inOffset);
        std::size_t end = nl == std::string::npos ? c.in.size() : nl + 1;
        items_.clear();
        c.framer.feed(std::string_view(c.in).substr(c.inOffset, end - c.inOffset), items_);
        c.inOffset = end;
        if (!items_.empty())
            return std::move(items_.front());
    }
    std::string().swap(c.in); // an idle client holds no read buffer
    c.inOffset = 0;
    return std::nullopt;
}

void ControlServer::handleLine(Client &c, const std::string &line)
{
    auto parsed = parseRequest(line);
    if (auto *err = std::get_if<ProtocolError>(&parsed)) {
        metrics_.controlRequests.Add({{"command", "invalid"}, {"result", err->code}}).Increment();
        queue(c, errorReply(err->id, err->code, err->message));
        return;
    }
    auto &req = std::get<Request>(parsed);
    std::string label = commands_.contains(req.cmd) ? req.cmd : "unknown";
    if (req.cmd == "monitor") {
        c.monitor = true;
        metrics_.controlRequests.Add({{"command", label}, {"result", "ok"}}).Increment();
        queue(c, okReply(req.id, {{"monitoring", true}}));
        return;
    }
    if (commands_.access(req.cmd) == Access::Change) {
        ucred cred;
        if (std::string why = deniedReason(c, req.cmd, cred); !why.empty()) {
            metrics_.controlRequests.Add({{"command", label}, {"result", errc::permissionDenied}})
                .Increment();
            LOG_LIMITED("control-denied", Warning, "control", "refused %s: %s", req.cmd.c_str(),
                        why.c_str());
            queue(c, errorReply(req.id, errc::permissionDenied, why));
            return;
        }
        LOG_LIMITED("control-change", Info, "control", "%s requested by uid %u (pid %d)",
                    req.cmd.c_str(), static_cast<unsigned>(cred.uid), static_cast<int>(cred.pid));
    }
    // Further requests of this client wait until this one is answered, so
    // that replies keep the order of the requests.
    c.busy = true;
    auto streamed = std::make_shared<bool>(false); // a piece of the reply went out
    commands_.dispatch(req.cmd, req.args, [this, id = c.id, reqId = req.id, label,
                                           streamed](CommandResult r) {
        auto found = clients_.find(id);
        if (r.more) {
            if (found == clients_.end())
                return;
            Client &client = *found->second;
            queue(client, *streamed ? std::move(r.rawResult) : okReplyHead(reqId) + r.rawResult);
            *streamed = true;
            if (!client.serving && flush(client))
                updateInterest(client);
            return;
        }
        metrics_.controlRequests.Add({{"command", label}, {"result", r.ok ? "ok" : r.code}})
            .Increment();
        if (found == clients_.end())
            return; // gone while its command ran
        Client &client = *found->second;
        client.busy = false;
        if (*streamed && !r.ok) {
            // Half a reply is out: an error cannot follow it on that line.
            LOG_LIMITED("control-stream-failed", Warning, "control",
                        "%s failed after part of its reply was sent (%s); closing client %llu",
                        label.c_str(), r.message.c_str(), static_cast<unsigned long long>(id));
            return drop(id, nullptr);
        }
        if (*streamed)
            queue(client, r.rawResult.append(okReplyTail));
        else
            queue(client, !r.ok                 ? errorReply(reqId, r.code, r.message)
                          : r.rawResult.empty() ? okReply(reqId, r.result)
                                                : okReplyRaw(reqId, r.rawResult));
        // A reply that arrives later has to be sent, and what waited behind
        // it served.
        if (!client.serving)
            resumeSoon(client);
    });
}

void ControlServer::queue(Client &c, std::string data)
{
    if (c.outOffset == c.out.size()) {
        c.out = std::move(data);
        c.outOffset = 0;
    } else {
        c.out.append(data);
    }
    account(c);
}

void ControlServer::account(Client &c)
{
    // Buffers by capacity, as the allocator sees them (a partial line that
    // grew by doubling holds up to twice its contents); pending output by
    // contents, since a sent prefix is reclaimed once it dominates.
    std::size_t now = c.in.capacity() + c.framer.held() + (c.out.size() - c.outOffset);
    held_ = held_ - c.held + now;
    c.held = now;
    // Shedding waits for the loop: the caller may still be using `c`.
    if (held_ > maxHeldBytes && !shedTimer_)
        shedTimer_ = loop_.addTimer(Clock::duration::zero(), [this] {
            shedTimer_ = 0;
            shed();
        });
}

void ControlServer::shed(std::size_t room)
{
    if (held_ + room <= maxHeldBytes)
        return;
    std::vector<std::pair<std::size_t, std::uint64_t>> byHeld;
    byHeld.reserve(clients_.size());
    for (const auto &entry : clients_)
        byHeld.emplace_back(entry.second->held, entry.first);
    std::sort(byHeld.begin(), byHeld.end(), std::greater<>());
    for (const auto &entry : byHeld) {
        if (held_ + room <= maxHeldBytes)
            break;
        drop(entry.second, "memory");
    }
}

bool ControlServer::flush(Client &c)
{
    bool progressed = false;
    while (c.outOffset < c.out.size()) {
        ssize_t n = send(c.fd.get(), c.out.data() + c.outOffset, c.out.size() - c.outOffset,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            drop(c.id, nullptr);
            return false;
        }
        c.outOffset += static_cast<std::size_t>(n);
        progressed = true;
    }
    if (c.outOffset == c.out.size()) {
        std::string().swap(c.out); // an idle client holds no output buffer
        c.outOffset = 0;
        if (c.writeTimer) {
            loop_.cancelTimer(c.writeTimer);
            c.writeTimer = 0;
        }
        account(c);
        return true;
    }
    // Reclaim what was sent once it dominates the buffer.
    if (c.outOffset > c.out.size() / 2) {
        c.out.erase(0, c.outOffset);
        c.outOffset = 0;
    }
    account(c);
    auto deadline = Clock::now() + options_.writeTimeout;
    if (!c.writeTimer) {
        std::uint64_t id = c.id;
        c.writeTimer = loop_.addTimerAt(deadline, [this, id] {
            auto it = clients_.find(id);
            if (it == clients_.end())
                return;
            it->second->writeTimer = 0;
            drop(id, "write_timeout");
        });
    } else if (progressed) {
        loop_.rescheduleTimer(c.writeTimer, deadline);
    }
    return true;
}

void ControlServer::updateInterest(Client &c)
{
    std::size_t pending = c.out.size() - c.outOffset;
    std::uint32_t want = 0;
    if (!c.eof && !c.hasInput() && pending < outputHighWater)
        want |= EPOLLIN | EPOLLRDHUP;
    if (pending)
        want |= EPOLLOUT;
    if (want != c.interest) {
        c.interest = want;
        loop_.modifyFd(c.fd.get(), want);
    }
}

void ControlServer::drop(std::uint64_t id, const char *reason)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    Client &c = *it->second;
    if (c.writeTimer)
        loop_.cancelTimer(c.writeTimer);
    if (c.resumeTimer)
        loop_.cancelTimer(c.resumeTimer);
    loop_.removeFd(c.fd.get());
    held_ -= c.held;
    if (reason) {
        metrics_.controlClientsDropped.Add({{"reason", reason}}).Increment();
        LOG_LIMITED(std::string("control-drop-") + reason, Warning, "control",
                    "dropped control client %llu: %s", static_cast<unsigned long long>(id),
                    reason);
    }
    clients_.erase(it);
    metrics_.controlClients.Set(static_cast<double>(clients_.size()));
}

void ControlServer::publish(std::string_view name, nlohmann::json fields)
{
    if (monitorCount() == 0)
        return;
    std::string line = eventLine(name, std::move(fields), unixNow());
    std::vector<std::uint64_t> monitors;
    for (const auto &[id, c] : clients_)
        if (c->monitor)
            monitors.push_back(id);
    // flush() may drop a client, so look each one up again.
    for (auto id : monitors) {
        auto it = clients_.find(id);
        if (it == clients_.end())
            continue;
        Client &c = *it->second;
        if (c.out.size() - c.outOffset + line.size() > monitorOutputLimit) {
            drop(id, "slow_monitor");
            continue;
        }
        // Events come at the mesh's rate, not a client's: shed before the
        // bound is passed rather than on the next turn.
        if (held_ + line.size() > maxHeldBytes) {
            shed(line.size());
            if (clients_.find(id) == clients_.end())
                continue;
        }
        queue(c, line);
        if (flush(c))
            updateInterest(c);
    }
}

std::size_t ControlServer::monitorCount() const
{
    std::size_t n = 0;
    for (const auto &[id, c] : clients_)
        n += c->monitor;
    return n;
}

} // namespace meshd
