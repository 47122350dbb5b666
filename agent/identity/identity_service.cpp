// SPDX-License-Identifier: GPL-2.0-or-later
#include "identity_service.h"

#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <cstdlib>
#include <ctime>
#include <sys/epoll.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

namespace meshd {

using nlohmann::json;
using SystemClock = std::chrono::system_clock;

namespace {

bool sameCertificates(const spiffe::Certificates &a, const spiffe::Certificates &b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (X509_cmp(a[i].get(), b[i].get()) != 0)
            return false;
    return true;
}

bool sameBundles(const spiffe::BundleSet &a, const spiffe::BundleSet &b)
{
    if (a.size() != b.size())
        return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
        if (ia->first != ib->first || !sameCertificates(ia->second, ib->second))
            return false;
    return true;
}

json trustDomains(const spiffe::BundleSet *bundles)
{
    json out = json::array();
    if (bundles)
        for (const auto &[td, certs] : *bundles)
            out.push_back(td);
    return out;
}

// Every code the Workload API client reports, so that rates work from zero.
constexpr const char *errorLabels[] = {
    "cancelled",          "unknown",          "invalid_argument",    "deadline_exceeded",
    "not_found",          "already_exists",   "permission_denied",   "resource_exhausted",
    "failed_precondition", "aborted",         "out_of_range",        "unimplemented",
    "internal",           "unavailable",      "data_loss",           "unauthenticated",
    "malformed_response", "wrong_trust_domain", "invalid_svid",
};

} // namespace

IdentityService::IdentityService(EventLoop &loop, const Config &config, Metrics &metrics,
                                 Publish publish)
    : loop_(loop), config_(config), publish_(std::move(publish)),
      backoff_(std::chrono::milliseconds(std::min<std::uint32_t>(1000, config.spiffe.retryMaxMs)),
               std::chrono::milliseconds(config.spiffe.retryMaxMs)),
      expiry_(prometheus::BuildGauge()
                  .Name("meshd_svid_expiry_timestamp_seconds")
                  .Help("NotAfter of this node's default X.509-SVID, as a Unix time; 0 while "
                        "there is none.")
                  .Register(metrics.registry())
                  .Add({})),
      rotationsTotal_(prometheus::BuildCounter()
                          .Name("meshd_svid_rotations_total")
                          .Help("Times the SPIRE agent replaced this node's default X.509-SVID "
                                "with another (the first SVID is not a rotation).")
                          .Register(metrics.registry())
                          .Add({})),
      errors_(prometheus::BuildCounter()
                  .Name("meshd_workload_api_errors_total")
                  .Help("Workload API failures by gRPC status code (lower case), or "
                        "malformed_response, wrong_trust_domain, invalid_svid for responses "
                        "meshd rejected.")
                  .Register(metrics.registry()))
{
    for (const char *label : errorLabels)
        errors_.Add({{"code", label}});
    if (!config_.spiffe.authorize.is_null()) {
        auto parsed = spiffe::parseAuthorizer(config_.spiffe.authorize);
        if (auto *a = std::get_if<spiffe::Authorizer>(&parsed))
            authorizer_ = *a; // validated with the config
    } else {
        authorizer_ = spiffe::authorizeMemberOf(config_.spiffe.trustDomain);
    }
}

IdentityService::~IdentityService() { stop(); }

const char *IdentityService::apiStateName(ApiState state)
{
    switch (state) {
    case ApiState::Stopped:
        return "stopped";
    case ApiState::Connecting:
        return "connecting";
    case ApiState::Connected:
        return "connected";
    case ApiState::Backoff:
        return "backoff";
    }
    return "stopped";
}

std::variant<spiffe::Endpoint, std::string> workloadEndpoint(const Config &config)
{
    std::string text = config.spiffe.endpoint;
    const char *source = "spiffe.endpoint";
    if (text.empty()) {
        const char *env = getenv("SPIFFE_ENDPOINT_SOCKET");
        if (env == nullptr || *env == '\0')
            return std::string("no Workload API endpoint: set spiffe.endpoint or "
                               "SPIFFE_ENDPOINT_SOCKET");
        text = env;
        source = "SPIFFE_ENDPOINT_SOCKET";
    }
    auto parsed = spiffe::parseEndpoint(text);
    if (auto *err = std::get_if<std::string>(&parsed))
        return std::string(source) + " \"" + text + "\": " + *err;
    if (!config.spiffe.allowRemoteEndpoint &&
        !spiffe::endpointIsLocal(std::get<spiffe::Endpoint>(parsed)))
        return std::string(source) + ": " +
               spiffe::remoteEndpointRefusal(std::get<spiffe::Endpoint>(parsed));
    return parsed;
}

std::string IdentityService::start()
{
    auto resolved = workloadEndpoint(config_);
    if (auto *err = std::get_if<std::string>(&resolved))
        return *err;
    endpoint_ = std::get<spiffe::Endpoint>(resolved);

    spiffe::WorkloadClient::Handlers h;
    h.x509Context = [this](spiffe::X509Context c) { onContext(std::move(c)); };
    h.bundles = [this](spiffe::BundleSet b) { onBundles(std::move(b)); };
    h.rejected = [this](const spiffe::WorkloadError &e) { onRejected(e); };
    h.closed = [this](const spiffe::WorkloadError &e) { onClosed(e); };
    h.checkServer = [this](int fd) { return judgeAgent(fd); };
    client_ = std::make_unique<spiffe::WorkloadClient>(*endpoint_, std::move(h));
    LOG(Info, "spiffe", "fetching X.509-SVIDs from %s (trust domain %s, peers authorised: %s)",
        endpoint_->uri.c_str(), config_.spiffe.trustDomain.c_str(), authorizer_.describe().c_str());
    connect();
    return {};
}

void IdentityService::stop()
{
    for (auto *timer : {&retryTimer_, &expiryTimer_, &halfLifeTimer_, &connectTimer_})
        if (*timer) {
            loop_.cancelTimer(*timer);
            *timer = 0;
        }
    if (registeredFd_ >= 0) {
        loop_.removeFd(registeredFd_);
        registeredFd_ = -1;
    }
    if (client_)
        client_->close();
    state_ = ApiState::Stopped;
}

// Whoever can bind the endpoint's path could hand meshd an identity of its
// choosing: the process that listens there must be the agent's user.
std::string IdentityService::judgeAgent(int fd)
{
    agentRefused_ = false;
    if (config_.spiffe.anyAgentUid)
        return {};
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        agentRefused_ = true;
        return "cannot read who serves " + endpoint_->address +
               " (SO_PEERCRED): " + strerror(errno);
    }
    const std::uint32_t self = geteuid();
    bool ok = config_.spiffe.agentUid ? cred.uid == *config_.spiffe.agentUid
                                      : cred.uid == 0 || cred.uid == self;
    if (ok)
        return {};
    agentRefused_ = true;
    std::string want =
        config_.spiffe.agentUid
            ? "uid " + std::to_string(*config_.spiffe.agentUid) + " (spiffe.agent_uid)"
            : "root or meshd's uid " + std::to_string(self) +
                  " (set spiffe.agent_uid to the SPIRE agent's uid)";
    return endpoint_->address + " is served by uid " + std::to_string(cred.uid) + " (pid " +
           std::to_string(cred.pid) + "), not by " + want + "; not trusting it";
}

void IdentityService::connect()
{
    retryTimer_ = 0;
    std::string err = client_->connect();
    if (!err.empty()) {
        if (agentRefused_) {
            agentRefused_ = false;
            onClosed(spiffe::WorkloadError{7, "untrusted_agent", err, true});
            return;
        }
        // No socket yet (the agent is not running): as unavailable, retried.
        onClosed(spiffe::WorkloadError{14, spiffe::grpcCodeName(14), err, true});
        return;
    }
    state_ = ApiState::Connecting;
    syncFd();
    // An agent that never answers (a TCP endpoint that drops packets, a
    // process that accepts and hangs) must not leave meshd waiting forever.
    if (connectTimer_)
        loop_.cancelTimer(connectTimer_);
    std::uint64_t serial = ++connectSerial_;
    connectTimer_ = loop_.addTimer(connectTimeout, [this, serial] {
        // A timer already due when it was cancelled still runs: it must
        // not judge a later connection.
        if (serial != connectSerial_)
            return;
        connectTimer_ = 0;
        if (state_ != ApiState::Connecting || client_->connected())
            return;
        client_->close();
        onClosed(spiffe::WorkloadError{4, spiffe::grpcCodeName(4),
                                       "the agent did not answer within " +
                                           std::to_string(connectTimeout.count()) + " s",
                                       true});
    });
}

void IdentityService::syncFd()
{
    int fd = client_ ? client_->fd() : -1;
    if (registeredFd_ >= 0 && registeredFd_ != fd) {
        loop_.removeFd(registeredFd_);
        registeredFd_ = -1;
    }
    if (fd < 0)
        return;
    if (registeredFd_ != fd) {
        if (int err = loop_.addFd(fd, client_->events(),
                                  [this](std::uint32_t ev) { handleEvents(ev); },
                                  "workload-api");
            err < 0) {
            client_->close();
            onClosed(spiffe::WorkloadError{13, spiffe::grpcCodeName(13),
                                           std::string("cannot watch the socket: ") + strerror(-err),
                                           true});
            return;
        }
        registeredFd_ = fd;
    } else {
        loop_.modifyFd(fd, client_->events());
    }
}

void IdentityService::handleEvents(std::uint32_t events)
{
    // The client may have closed or replaced its socket: syncFd() follows.
    client_->handle(events);
    if (client_->connected() && state_ == ApiState::Connecting)
        state_ = ApiState::Connected;
    syncFd();
}

void IdentityService::retryLater()
{
    auto delay = backoff_.next();
    state_ = ApiState::Backoff;
    retryAt_ = std::chrono::steady_clock::now() + delay;
    retryTimer_ = loop_.addTimer(delay, [this] { connect(); });
}

void IdentityService::countError(const std::string &label)
{
    errors_.Add({{"code", label}}).Increment();
}

// Counts an error and keeps it as the last one; monitors hear of it when it
// differs from the one before (not on every retry while the agent is down).
void IdentityService::recordError(const spiffe::WorkloadError &error)
{
    countError(error.label);
    bool changed = !lastError_ || lastError_->label != error.label ||
                   lastError_->message != error.message;
    lastError_ = error;
    lastErrorAt_ = unixSeconds(SystemClock::now());
    if (changed)
        publish_("workload_api_error", {{"code", error.label}, {"message", error.message}});
}

void IdentityService::reject(const std::string &label, const std::string &message)
{
    recordError(spiffe::WorkloadError{13, label, message, true});
    Log::writeLimited("spiffe-reject", LogLevel::Warning, "spiffe",
                      "rejected a Workload API response (%s), keeping the previous state: %s",
                      label.c_str(), message.c_str());
}

void IdentityService::onRejected(const spiffe::WorkloadError &error)
{
    if (error.code == 12) {
        // An older agent without FetchX509Bundles: the bundles of
        // FetchX509SVID are all there is. Not a failure of the agent.
        countError(error.label);
        LOG(Info, "spiffe", "the SPIRE agent does not offer FetchX509Bundles; using the bundles "
                            "that come with the SVIDs");
        return;
    }
    reject(error.label, error.message);
}

void IdentityService::onClosed(const spiffe::WorkloadError &error)
{
    if (registeredFd_ >= 0) {
        loop_.removeFd(registeredFd_);
        registeredFd_ = -1;
    }
    recordError(error);
    if (!error.retry) {
        state_ = ApiState::Stopped;
        LOG(Error, "spiffe",
            "the Workload API at %s refused meshd (%s: %s); not retrying until meshd is restarted",
            endpoint_->uri.c_str(), error.label.c_str(), error.message.c_str());
        return;
    }
    Log::writeLimited("spiffe-closed", svids_.empty() ? LogLevel::Warning : LogLevel::Info,
                      "spiffe", "Workload API %s: %s: %s; retrying", endpoint_->uri.c_str(),
                      error.label.c_str(), error.message.c_str());
    retryLater();
}

bool IdentityService::rebuildTls(const std::shared_ptr<const spiffe::Svid> &svid,
                                 const std::shared_ptr<const spiffe::BundleSet> &bundles,
                                 std::string *error)
{
    auto made = spiffe::TlsContext::create(svid, bundles, authorizer_);
    if (auto *err = std::get_if<std::string>(&made)) {
        *error = *err;
        return false;
    }
    tls_ = std::get<std::shared_ptr<const spiffe::TlsContext>>(made);
    expired_ = false;
    if (tlsChanged_)
        tlsChanged_();
    return true;
}

void IdentityService::onContext(spiffe::X509Context context)
{
    auto now = SystemClock::now();
    const auto &svid = context.svids.front();
    if (svid->id.trustDomain != config_.spiffe.trustDomain)
        return reject("wrong_trust_domain", "the default SVID " + svid->id.str() +
                                                " is not in spiffe.trust_domain " +
                                                config_.spiffe.trustDomain);
    auto valid = spiffe::validateSvid(svid->chain, context.bundles, now);
    if (auto *err = std::get_if<spiffe::SvidError>(&valid))
        return reject("invalid_svid", "the default SVID " + svid->id.str() +
                                          " does not validate against its own bundle: " +
                                          err->message);

    auto bundles = std::make_shared<const spiffe::BundleSet>(std::move(context.bundles));
    std::string err;
    if (!rebuildTls(svid, bundles, &err))
        return reject("invalid_svid", "cannot use the SVID for TLS: " + err);

    backoff_.reset();
    state_ = ApiState::Connected;
    lastError_.reset(); // healthy again
    ++updates_;
    lastUpdateAt_ = unixSeconds(now);
    std::shared_ptr<const spiffe::Svid> previous = svids_.empty() ? nullptr : svids_.front();
    bool bundlesChanged = !bundles_ || !sameBundles(*bundles_, *bundles);
    svids_ = std::move(context.svids);
    bundles_ = bundles;

    if (!previous || !sameCertificates(previous->chain, svid->chain)) {
        if (previous)
            rotationsTotal_.Increment(), ++rotations_;
        expiry_.Set(std::chrono::duration<double>(svid->notAfter.time_since_epoch()).count());
        LOG(Info, "spiffe", "%s X.509-SVID %s, valid until %s", previous ? "rotated to" : "got",
            svid->id.str().c_str(), rfc3339(svid->notAfter).c_str());
        publish_("svid_rotated",
                 {{"spiffe_id", svid->id.str()},
                  {"not_after", rfc3339(svid->notAfter)},
                  {"previous_not_after", previous ? json(rfc3339(previous->notAfter)) : json()}});
        armTimers();
    }
    if (bundlesChanged)
        publish_("bundles_updated", {{"trust_domains", trustDomains(bundles_.get())}});
}

void IdentityService::onBundles(spiffe::BundleSet bundles)
{
    if (!bundles.count(config_.spiffe.trustDomain))
        return reject("wrong_trust_domain", "FetchX509Bundles sent no bundle for " +
                                                config_.spiffe.trustDomain);
    if (bundles_ && sameBundles(*bundles_, bundles))
        return;
    auto shared = std::make_shared<const spiffe::BundleSet>(std::move(bundles));
    if (!svids_.empty() && !expired_) {
        std::string err;
        if (!rebuildTls(svids_.front(), shared, &err))
            return reject("malformed_response", "cannot use the bundles for TLS: " + err);
    }
    bundles_ = shared;
    publish_("bundles_updated", {{"trust_domains", trustDomains(bundles_.get())}});
}

void IdentityService::armTimers()
{
    for (auto *timer : {&expiryTimer_, &halfLifeTimer_})
        if (*timer) {
            loop_.cancelTimer(*timer);
            *timer = 0;
        }
    const auto &svid = *svids_.front();
    // The loop's timers run on the monotonic clock: convert once.
    auto toSteady = [](SystemClock::time_point t) {
        return std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   t - SystemClock::now());
    };
    expiryTimer_ = loop_.addTimerAt(toSteady(svid.notAfter), [this] {
        expiryTimer_ = 0;
        onExpired();
    });
    // SPIRE rotates at half-life: an SVID that arrives past it (a stale
    // agent) is warned about at once.
    auto halfLife = svid.notBefore + (svid.notAfter - svid.notBefore) / 2;
    halfLifeTimer_ = loop_.addTimerAt(toSteady(std::max(halfLife, SystemClock::now())), [this] {
            halfLifeTimer_ = 0;
            onHalfLife();
        });
}

void IdentityService::onExpired()
{
    if (svids_.empty() || expired_)
        return;
    const auto &svid = *svids_.front();
    if (svid.notAfter > SystemClock::now()) { // clock stepped back: look again later
        armTimers();
        return;
    }
    expired_ = true;
    tls_.reset();
    LOG(Error, "spiffe",
        "X.509-SVID %s expired at %s without a rotation; mTLS is off until the SPIRE agent "
        "sends a new one",
        svid.id.str().c_str(), rfc3339(svid.notAfter).c_str());
    publish_("svid_expired", {{"spiffe_id", svid.id.str()}, {"not_after", rfc3339(svid.notAfter)}});
    if (tlsChanged_)
        tlsChanged_();
}

void IdentityService::onHalfLife()
{
    if (svids_.empty())
        return;
    const auto &svid = *svids_.front();
    LOG(Warning, "spiffe",
        "no rotation of X.509-SVID %s by its half-life; it expires at %s (Workload API: %s)",
        svid.id.str().c_str(), rfc3339(svid.notAfter).c_str(), apiStateName(state_));
}

std::shared_ptr<const spiffe::TlsContext> IdentityService::tlsContext()
{
    // The expiry timer runs on the monotonic clock; a wall clock stepped
    // forward (NTP on a router without an RTC) must not let an expired SVID
    // out in the meantime.
    if (!tls_ || tls_->svid().notAfter > SystemClock::now())
        return tls_;
    if (!expirySoon_) {
        expirySoon_ = true;
        loop_.addTimer(std::chrono::milliseconds(0), [this] {
            expirySoon_ = false;
            onExpired();
        });
    }
    return nullptr;
}

std::string IdentityService::unavailableReason() const
{
    if (expired_ && !svids_.empty())
        return "the X.509-SVID expired at " + rfc3339(svids_.front()->notAfter) +
               " and no rotation arrived";
    if (svids_.empty())
        return lastError_ ? "no X.509-SVID yet (Workload API: " + lastError_->label + ": " +
                                lastError_->message + ")"
                          : "no X.509-SVID yet";
    return {};
}

json IdentityService::identity() const
{
    json api = {{"state", apiStateName(state_)}};
    api["last_error"] = lastError_ ? json{{"code", lastError_->label},
                                          {"message", lastError_->message},
                                          {"time", lastErrorAt_}}
                                   : json();
    if (state_ == ApiState::Backoff)
        api["retry_in_s"] = std::max(0.0, std::chrono::duration<double>(
                                              retryAt_ - std::chrono::steady_clock::now())
                                              .count());
    json out = {
        {"state", svids_.empty() ? "waiting" : expired_ ? "expired" : "ok"},
        {"endpoint", endpoint_ ? endpoint_->uri : std::string()},
        {"trust_domain", config_.spiffe.trustDomain},
        {"authorize", authorizer_.describe()},
        {"trust_domains", trustDomains(bundles_.get())},
        {"svids", svids_.size()},
        {"rotations", rotations_},
        {"updates", updates_},
        {"last_update", updates_ ? json(rfc3339(SystemClock::from_time_t(
                                       static_cast<std::time_t>(lastUpdateAt_))))
                                 : json()},
        {"workload_api", api},
    };
    if (svids_.empty()) {
        out["spiffe_id"] = nullptr;
        out["not_after"] = nullptr;
        out["not_after_unix"] = nullptr;
        out["hint"] = "";
        return out;
    }
    const auto &svid = *svids_.front();
    out["spiffe_id"] = svid.id.str();
    out["not_before"] = rfc3339(svid.notBefore);
    out["not_after"] = rfc3339(svid.notAfter);
    out["not_after_unix"] = static_cast<std::int64_t>(unixSeconds(svid.notAfter));
    out["hint"] = svid.hint;
    return out;
}

json IdentityService::status() const
{
    json s = identity();
    json out = {{"state", s["state"] == "ok" ? "ok" : "degraded"},
                {"spiffe_id", s["spiffe_id"]},
                {"not_after", s["not_after"]},
                {"workload_api", s["workload_api"]["state"]}};
    if (std::string why = unavailableReason(); !why.empty())
        out["reason"] = why;
    return out;
}

void IdentityService::registerCommands(CommandRegistry &commands)
{
    commands.add("identity", "this node's X.509-SVID, bundles and Workload API state",
                 [this](const json &) { return CommandResult::success(identity()); });
}

} // namespace meshd
