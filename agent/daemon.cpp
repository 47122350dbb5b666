// SPDX-License-Identifier: GPL-2.0-or-later
#include "daemon.h"

#include <prometheus/histogram.h>

#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock.h"
#include "identity_service.h"
#include "log.h"
#include "meshd_build.h"
#include "module.h"
#include "peer_service.h"
#include "secure_heap.h"
#include "tunnel_service.h"
#if MESHD_HAVE_BPF
#include "probe_service.h"
#else
namespace meshd {
class ProbeService {}; // built without BPF: never created
} // namespace meshd
#endif

namespace meshd {

using nlohmann::json;

namespace {

json feature(const char *state, const std::string &reason = {})
{
    json f = {{"state", state}};
    if (!reason.empty())
        f["reason"] = reason;
    return f;
}


// With tunnel.attach, the tunnel's interface is one more hardif of the mesh
// service, which attaches it like the others (and puts it back when removed).
void addTunnelHardif(Config &config, const Config::Tunnel &tunnel)
{
    if (!tunnel.enabled || !tunnel.attach.value_or(config.mesh.manage))
        return;
    for (const auto &h : config.mesh.hardifs)
        if (h.name == tunnel.interface)
            return;
    config.mesh.hardifs.push_back({tunnel.interface, json::object()});
}

} // namespace

Daemon::Daemon(DaemonOptions options, Config config)
    : options_(std::move(options)), config_(std::move(config))
{
    addTunnelHardif(config_, config_.tunnel);
}

Daemon::~Daemon() = default;

void Daemon::applyLogging()
{
    Log::setLevel(options_.logLevelOverride.value_or(config_.log.level));
    Log::setTarget(options_.daemonised ? LogTarget::Syslog : config_.log.target);
}

ControlServer::Options Daemon::controlOptions() const
{
    ControlServer::Options o;
    o.path = config_.control.socket;
    o.mode = config_.control.mode;
    o.group = config_.control.group;
    o.groupRequired = config_.control.groupExplicit;
    o.adminGroup = config_.control.adminGroup;
    o.maxClients = config_.control.maxClients;
    o.writeTimeout = std::chrono::milliseconds(config_.control.writeTimeoutMs);
    return o;
}

namespace
{

// meshd holds its SVID's private key and the tunnel's session keys: no core
// dumps of it, no ptrace or /proc/PID/mem by other processes of its user, and
// the keys OpenSSL holds in a heap that a dump would skip even where dumps
// are re-enabled (MESHD_ALLOW_CORE_DUMPS=1, for debugging a crash).
void protectSecrets()
{
    const char *allow = getenv("MESHD_ALLOW_CORE_DUMPS");
    if (allow && std::strcmp(allow, "1") == 0)
        LOG(Warning, "daemon",
            "MESHD_ALLOW_CORE_DUMPS=1: core dumps stay enabled; a dump "
            "may hold session keys");
    else if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        LOG(Warning, "daemon", "cannot disable core dumps (PR_SET_DUMPABLE): %s", strerror(errno));
    spiffe::SecureHeap heap = spiffe::initSecureHeap();
    if (!heap.active)
        LOG(Warning, "daemon", "private keys use the ordinary heap: %s", heap.detail.c_str());
    else if (!heap.locked)
        LOG(Warning, "daemon", "secure heap for private keys (%zu KiB): %s", heap.bytes / 1024,
            heap.detail.c_str());
    else
        LOG(Debug, "daemon", "private keys in a locked %zu KiB heap excluded from core dumps",
            heap.bytes / 1024);
}

} // namespace

std::string Daemon::start()
{
    started_ = std::chrono::steady_clock::now();
    startedUnix_ = configLoadedUnix_ = unixNow();
    applyLogging();
    protectSecrets();

    if (int err = loop_.init(); err < 0)
        return std::string("cannot create the event loop: ") + strerror(-err);
    loop_.setIterationObserver([this](Clock::duration wall, Clock::duration cpu) {
        metrics_.loopIteration.Observe(std::chrono::duration<double>(wall).count());
        metrics_.loopIterationCpu.Observe(std::chrono::duration<double>(cpu).count());
    });

    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&signals, s);
    if (int err = loop_.watchSignals(signals, [this](int signo) { onSignal(signo); }); err < 0)
        return std::string("cannot watch signals: ") + strerror(-err);

    if (int err = notifier_.init(); err < 0)
        LOG(Warning, "daemon", "ignoring NOTIFY_SOCKET: %s", strerror(-err));

    // The socket's lock comes first: a second meshd is reported as such.
    auto publish = [this](std::string_view event, json fields) {
        if (control_)
            control_->publish(event, std::move(fields));
    };
    mesh_ = std::make_unique<MeshService>(loop_, config_, metrics_, publish);
#if MESHD_HAVE_BPF
    probes_ = std::make_unique<ProbeService>(loop_, config_, metrics_);
    mesh_->onNeighbors(
        [this](const std::vector<batman::NeighborEntry> &n) { probes_->setNeighbors(n); });
#endif
    if (!config_.spiffe.trustDomain.empty()) {
        identity_ = std::make_unique<IdentityService>(loop_, config_, metrics_, publish);
        IdentitySource source{[this] { return identity_->tlsContext(); },
                              [this] { return identity_->unavailableReason(); }};
        peers_ = std::make_unique<PeerService>(loop_, config_, metrics_, std::move(source), publish);
        identity_->onTlsChange([this] { peers_->identityChanged(); });
        if (config_.tunnel.enabled) {
            // Registers its messages with the peer channel before it starts.
            tunnel_ = std::make_unique<TunnelService>(loop_, config_, metrics_, peers_->dispatch(),
                                                      publish);
            peers_->setTunnelView([this](const std::optional<spiffe::SpiffeId> &id) {
                return tunnel_->describePeer(id);
            });
        }
    }
    registerCommands();
    control_ = std::make_unique<ControlServer>(loop_, commands_, metrics_);
    if (std::string err = control_->start(controlOptions()); !err.empty()) {
        control_.reset();
        return "control.socket: " + err;
    }
    if (config_.metrics.enabled) {
        std::string err = metrics_.listen(config_.metrics.listen);
        if (!err.empty()) {
            control_->stop(); // leave nothing behind
            control_.reset();
            return "metrics.listen: " + err;
        }
        LOG(Info, "metrics", "serving metrics on http://%s/metrics", config_.metrics.listen.c_str());
    }

    // The tunnel's interface exists before the mesh service looks for its hardifs.
    if (tunnel_) {
        if (std::string err = tunnel_->start(); !err.empty()) {
            tunnel_->stop();
            control_->stop();
            control_.reset();
            metrics_.stopListening();
            return err;
        }
    }
    if (std::string err = mesh_->start(); !err.empty()) {
        if (tunnel_)
            tunnel_->stop();
        control_->stop();
        control_.reset();
        metrics_.stopListening();
        return "mesh: " + err;
    }
    if (!batman::moduleVersion())
        LOG(Warning, "mesh", "the kernel has no batman-adv module loaded; mesh features are "
                             "unavailable");
#if MESHD_HAVE_BPF
    probes_->start(); // a probe that does not load degrades, never fails start-up
#endif
    if (identity_) {
        std::string err = identity_->start();
        if (err.empty())
            err = peers_->start();
        if (!err.empty()) {
            identity_->stop();
            peers_->stop();
            if (tunnel_)
                tunnel_->stop();
#if MESHD_HAVE_BPF
            probes_->stop();
#endif
            mesh_->stop();
            control_->stop();
            control_.reset();
            metrics_.stopListening();
            return err.rfind("spiffe.", 0) == 0 ? err : "spiffe: " + err;
        }
    }
    scheduleWatchdog();
    return {};
}

int Daemon::run()
{
    if (std::string err = start(); !err.empty()) {
        LOG(Error, "daemon", "%s", err.c_str());
        return 1;
    }

    LOG(Info, "daemon", "meshd %s started (pid %d)", MESHD_VERSION, getpid());
    notifier_.send("READY=1\nSTATUS=running; control socket " + config_.control.socket);
    if (options_.readyFd >= 0) {
        char ok = 0;
        (void)!write(options_.readyFd, &ok, 1);
        close(options_.readyFd);
        options_.readyFd = -1;
        // Daemonised: detach from the terminal now that start-up errors are reported.
        if (int null = open("/dev/null", O_WRONLY | O_CLOEXEC); null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }

    int err = loop_.run();

    notifier_.send("STOPPING=1");
    control_->publish("stopping", {{"reason", err < 0 ? "error" : "signal"}});
    if (tunnel_)
        tunnel_->stop(); // tells its peers, while the channel is still up
    if (peers_)
        peers_->stop();
    if (identity_)
        identity_->stop();
#if MESHD_HAVE_BPF
    probes_->stop();
#endif
    mesh_->stop();
    control_->stop();
    metrics_.stopListening();
    if (err < 0) {
        LOG(Error, "daemon", "event loop failed: %s", strerror(-err));
        return 1;
    }
    LOG(Info, "daemon", "stopped");
    return 0;
}

void Daemon::scheduleWatchdog()
{
    auto interval = notifier_.watchdogInterval();
    if (!interval)
        return;
    notifier_.send("WATCHDOG=1");
    loop_.addTimer(*interval, [this] { scheduleWatchdog(); });
}

void Daemon::onSignal(int signo)
{
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        LOG(Info, "daemon", "%s received, shutting down", strsignal(signo));
        loop_.stop();
        break;
    case SIGHUP:
        reload("SIGHUP");
        break;
    default:
        break;
    }
}

json Daemon::reload(const char *trigger)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notifier_.send("RELOADING=1\nMONOTONIC_USEC=" +
                   std::to_string(ts.tv_sec * 1000000LL + ts.tv_nsec / 1000));
    LOG(Info, "config", "reloading %s (%s)", options_.configPath.c_str(), trigger);

    ConfigResult r = loadConfigFile(options_.configPath, config_.control.socket);
    json result;
    if (!r.ok()) {
        json errors = json::array();
        for (const auto &e : r.errors) {
            LOG(Error, "config", "%s: %s", options_.configPath.c_str(), e.describe().c_str());
            errors.push_back({{"path", e.path}, {"kind", configErrorKindName(e.kind)},
                              {"message", e.message}});
        }
        LOG(Error, "config", "reload failed; keeping the running configuration");
        metrics_.configReloads.Add({{"result", "error"}}).Increment();
        control_->publish("config_reload_failed", {{"file", options_.configPath}, {"errors", errors}});
        notifier_.send("READY=1\nSTATUS=running; config reload failed");
        return {{"ok", false}, {"errors", errors}};
    }

    Config next = std::move(*r.config);
    addTunnelHardif(next, config_.tunnel); // the tunnel itself changes only on restart
    ConfigDiff diff = diffConfig(config_, next);
    // Settings that need a restart keep their running value until then.
    Config applied = next;
    applied.control.socket = config_.control.socket;
    applied.metrics = config_.metrics;
    applied.mesh.interface = config_.mesh.interface;
    applied.mesh.algorithm = config_.mesh.algorithm;
    applied.mesh.manage = config_.mesh.manage;
    applied.probes = config_.probes;
    applied.spiffe = config_.spiffe;
    applied.tunnel = config_.tunnel;
    config_ = std::move(applied);
    configLoadedUnix_ = unixNow();
    applyLogging();
    if (std::string err = control_->reconfigure(controlOptions()); !err.empty())
        LOG(Warning, "config", "control: %s", err.c_str());
    mesh_->configChanged();

    for (const auto &p : diff.applied)
        LOG(Info, "config", "applied %s", p.c_str());
    for (const auto &p : diff.restartRequired)
        LOG(Warning, "config", "%s changed; restart meshd for it to take effect", p.c_str());
    if (diff.empty())
        LOG(Info, "config", "no changes");
    metrics_.configReloads.Add({{"result", "ok"}}).Increment();
    result = {{"ok", true}, {"applied", diff.applied}, {"restart_required", diff.restartRequired}};
    control_->publish("config_reloaded", {{"file", options_.configPath},
                                          {"applied", diff.applied},
                                          {"restart_required", diff.restartRequired}});
    notifier_.send("READY=1\nSTATUS=running; config reloaded");
    return result;
}

json Daemon::version() const
{
    auto mod = batman::moduleVersion();
    return {{"version", MESHD_VERSION},
            {"batman_adv_version", mod ? json(*mod) : json(nullptr)},
            {"algorithm", config_.mesh.algorithm},
            {"routing_algorithms", mesh_->routingAlgorithms()}};
}

json Daemon::status() const
{
    auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_);
    json mesh = mesh_->status();
    json hardifs = mesh["hardifs"];
    mesh.erase("hardifs");

#if MESHD_HAVE_BPF
    json probes = probes_->status();
#else
    json probes = config_.probes.enabled
                      ? feature("unavailable", "this meshd was built without eBPF probes")
                      : feature("disabled");
#endif
    json identity = identity_ ? identity_->status()
                              : feature("disabled", "spiffe.trust_domain is not set");
    json peers = peers_ ? peers_->status() : feature("disabled", "spiffe.trust_domain is not set");
    json tunnel = tunnel_ ? tunnel_->status()
                  : config_.tunnel.enabled
                      ? feature("unavailable", "spiffe.trust_domain is not set")
                      : feature("disabled");
    json metrics = {{"listen", config_.metrics.listen}};
    metrics.update(config_.metrics.enabled ? feature("ok") : feature("disabled"));

    auto longest =
        std::chrono::duration<double, std::milli>(loop_.longestDispatch()).count();
    return {
        {"version", MESHD_VERSION},
        {"pid", getpid()},
        {"uptime_seconds", static_cast<std::int64_t>(uptime.count())},
        {"started", static_cast<std::int64_t>(startedUnix_)},
        {"config",
         {{"file", options_.configPath}, {"loaded", static_cast<std::int64_t>(configLoadedUnix_)}}},
        {"mesh", mesh},
        {"hardifs", hardifs},
        {"probes", probes},
        {"identity", identity},
        {"peers", peers},
        {"tunnel", tunnel},
        {"control",
         {{"socket", config_.control.socket},
          {"clients", control_ ? control_->clientCount() : 0},
          {"monitors", control_ ? control_->monitorCount() : 0},
          {"max_clients", config_.control.maxClients}}},
        {"metrics", metrics},
        {"log", {{"level", logLevelName(Log::level())},
                 {"suppressed_messages", Log::suppressedTotal()}}},
        {"event_loop", {{"longest_iteration_ms", longest}}},
    };
}

void Daemon::registerCommands()
{
    commands_.add("version", "meshd and batman-adv versions",
                  [this](const json &) { return CommandResult::success(version()); });
    commands_.add("status", "daemon and feature health",
                  [this](const json &) { return CommandResult::success(status()); });
    commands_.add("commands", "the commands this daemon knows",
                  [this](const json &) { return CommandResult::success(commands_.describe()); });
    commands_.add(
        "reload", "re-read the config file (like SIGHUP)",
        [this](const json &) {
            json r = reload("reload command");
            if (!r["ok"].get<bool>()) {
                std::string msg = "config reload failed; keeping the running configuration";
                if (!r["errors"].empty())
                    msg += ": " + r["errors"][0]["path"].get<std::string>() + ": " +
                           r["errors"][0]["message"].get<std::string>();
                return CommandResult::failure(errc::invalidArgument, msg);
            }
            r.erase("ok");
            return CommandResult::success(r);
        },
        Access::Change);
    // Handled by the control server itself; registered for `commands`.
    commands_.add("monitor", "stream events (one JSON object per line)", [](const json &) {
        return CommandResult::failure(errc::internal, "monitor is handled by the control server");
    });

    mesh_->registerCommands(commands_);
#if MESHD_HAVE_BPF
    probes_->registerCommands(commands_);
#else
    commands_.addUnavailable("links", "per-neighbour link quality measured by the probes",
                             "this meshd was built without eBPF probes");
    commands_.addUnavailable("probes", "loaded eBPF probes and why others are not",
                             "this meshd was built without eBPF probes");
#endif
    if (identity_) {
        identity_->registerCommands(commands_);
        peers_->registerCommands(commands_);
    } else {
        commands_.addUnavailable("identity", "this node's X.509-SVID, bundles and Workload API "
                                 "state", "SPIFFE is off: spiffe.trust_domain is not set");
        commands_.addUnavailable("peers", "peer channel connections: state, SPIFFE ID, endpoint, "
                                 "counters", "SPIFFE is off: spiffe.trust_domain is not set");
    }
}

} // namespace meshd
