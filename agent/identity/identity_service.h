// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "authorize.h"
#include "commands.h"
#include "config.h"
#include "event_loop.h"
#include "identity.h"
#include "workload.h"

namespace prometheus {
template <typename T> class Family;
class Counter;
class Gauge;
} // namespace prometheus
namespace spiffe {
class TlsContext;
}

namespace meshd {

class Metrics;

// The Workload API endpoint: spiffe.endpoint, else $SPIFFE_ENDPOINT_SOCKET;
// or what is wrong with it (naming where it came from).
std::variant<spiffe::Endpoint, std::string> workloadEndpoint(const Config &config);

// This node's SPIFFE identity: streams X.509-SVIDs and bundles from the
// SPIRE agent's Workload API, applies each full state atomically (or keeps
// the previous one when a response is rejected), retries with capped,
// jittered backoff, and keeps a TLS context for new mTLS handshakes built
// from the current SVID and bundles. The context is dropped when the SVID
// passes NotAfter without a rotation: meshd never presents an expired SVID.
class IdentityService {
public:
    using Publish = std::function<void(std::string_view event, nlohmann::json fields)>;

    IdentityService(EventLoop &loop, const Config &config, Metrics &metrics, Publish publish);
    ~IdentityService();

    // Resolves the endpoint (config, else $SPIFFE_ENDPOINT_SOCKET) and starts
    // connecting. Returns what is wrong with the endpoint, or "". An
    // unreachable agent is not an error: it is retried.
    std::string start();
    void stop();
    void registerCommands(CommandRegistry &commands);
    nlohmann::json status() const;

    // For new handshakes: null while there is no valid SVID.
    std::shared_ptr<const spiffe::TlsContext> tlsContext();
    // Why tlsContext() is null.
    std::string unavailableReason() const;
    const spiffe::Authorizer &authorizer() const { return authorizer_; }
    // How long a new connection may take to get the agent's HTTP/2 settings.
    static constexpr std::chrono::seconds connectTimeout{10};

    // Called after every change of the TLS context (rotation, expiry).
    void onTlsChange(std::function<void()> callback) { tlsChanged_ = std::move(callback); }

private:
    enum class ApiState { Stopped, Connecting, Connected, Backoff };
    static const char *apiStateName(ApiState state);

    void connect();
    std::string judgeAgent(int fd);
    void handleEvents(std::uint32_t events);
    void syncFd();
    void retryLater();
    void onContext(spiffe::X509Context context);
    void onBundles(spiffe::BundleSet bundles);
    void onRejected(const spiffe::WorkloadError &error);
    void onClosed(const spiffe::WorkloadError &error);
    void recordError(const spiffe::WorkloadError &error);
    void reject(const std::string &label, const std::string &message);
    void countError(const std::string &label);
    bool rebuildTls(const std::shared_ptr<const spiffe::Svid> &svid,
                    const std::shared_ptr<const spiffe::BundleSet> &bundles, std::string *error);
    void armTimers();
    void onExpired();
    void onHalfLife();
    nlohmann::json identity() const;

    EventLoop &loop_;
    const Config &config_;
    Publish publish_;
    spiffe::Authorizer authorizer_;
    std::optional<spiffe::Endpoint> endpoint_;
    std::unique_ptr<spiffe::WorkloadClient> client_;
    int registeredFd_ = -1;
    ApiState state_ = ApiState::Stopped;
    spiffe::Backoff backoff_;
    EventLoop::TimerId retryTimer_ = 0;
    std::chrono::steady_clock::time_point retryAt_{};
    EventLoop::TimerId connectTimer_ = 0;
    std::uint64_t connectSerial_ = 0;
    bool expirySoon_ = false;
    EventLoop::TimerId expiryTimer_ = 0;
    EventLoop::TimerId halfLifeTimer_ = 0;
    std::optional<spiffe::WorkloadError> lastError_;
    double lastErrorAt_ = 0;

    // The applied state.
    std::vector<std::shared_ptr<const spiffe::Svid>> svids_;
    std::shared_ptr<const spiffe::BundleSet> bundles_;
    std::shared_ptr<const spiffe::TlsContext> tls_;
    bool expired_ = false;
    bool agentRefused_ = false; // the last connect() refused who serves the socket
    std::uint64_t rotations_ = 0;
    std::uint64_t updates_ = 0;
    double lastUpdateAt_ = 0;
    std::function<void()> tlsChanged_;

    prometheus::Gauge &expiry_;
    prometheus::Counter &rotationsTotal_;
    prometheus::Family<prometheus::Counter> &errors_;
};

} // namespace meshd
