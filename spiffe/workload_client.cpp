// SPDX-License-Identifier: GPL-2.0-or-later
// The Workload API connection: gRPC's PROTOCOL-HTTP2 over nghttp2, on a
// non-blocking socket driven by the owner's epoll loop.
#include "workload.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>

#include "grpc_frame.h"

namespace spiffe
{

namespace
{

// gRPC suggests 8 KiB per header block; SPIRE's are far smaller.
constexpr std::size_t maxHeaderBytes = 16 * 1024;
constexpr std::size_t maxStatusMessage = 1024;
constexpr std::size_t readChunk = 16 * 1024;
// Per handle(): the loop is level-triggered, so the rest is read next turn.
constexpr int maxReadsPerHandle = 64;
constexpr std::uint32_t streamWindow = 1024 * 1024;
constexpr std::int32_t connectionWindow = 8 * 1024 * 1024;

enum class Rpc { Svid, Bundles };

const char *rpcName(Rpc rpc)
{
    return rpc == Rpc::Svid ? "FetchX509SVID" : "FetchX509Bundles";
}

const char *rpcPath(Rpc rpc)
{
    return rpc == Rpc::Svid ? "/SpiffeWorkloadAPI/FetchX509SVID"
                            : "/SpiffeWorkloadAPI/FetchX509Bundles";
}

WorkloadError statusError(int code, std::string message)
{
    return WorkloadError{code, grpcCodeName(code), std::move(message), code != 3 && code != 12};
}

constexpr int grpcCancelled = 1;
constexpr int grpcUnknown = 2;
constexpr int grpcPermissionDenied = 7;
constexpr int grpcResourceExhausted = 8;
constexpr int grpcUnimplemented = 12;
constexpr int grpcInternal = 13;
constexpr int grpcUnavailable = 14;
constexpr int grpcUnauthenticated = 16;

// gRPC's http-grpc-status-mapping.md, for replies that are not HTTP 200.
int statusFromHttp(int status)
{
    switch (status) {
    case 400:
        return grpcInternal;
    case 401:
        return grpcUnauthenticated;
    case 403:
        return grpcPermissionDenied;
    case 404:
        return grpcUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
        return grpcUnavailable;
    default:
        return grpcUnknown;
    }
}

// RST_STREAM error codes to gRPC status, per PROTOCOL-HTTP2.md.
int statusFromReset(std::uint32_t code)
{
    switch (code) {
    case NGHTTP2_REFUSED_STREAM:
        return grpcUnavailable;
    case NGHTTP2_CANCEL:
        return grpcCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM:
        return grpcResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY:
        return grpcPermissionDenied;
    default:
        return grpcInternal;
    }
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Text from the peer made safe for a log line: control bytes become '?', and it is bounded.
std::string printable(std::string_view text)
{
    std::string out(text.substr(0, maxStatusMessage));
    for (char &c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = '?';
    if (text.size() > maxStatusMessage)
        out += "...";
    return out;
}

// grpc-message is percent-encoded UTF-8; broken escapes are kept as they are.
std::string percentDecode(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
            hexValue(text[i + 2]) >= 0) {
            out += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return printable(out);
}

std::string errnoText(int err)
{
    return std::strerror(err);
}

struct SessionFree {
    void operator()(nghttp2_session *session) const { nghttp2_session_del(session); }
};
struct CallbacksFree {
    void operator()(nghttp2_session_callbacks *callbacks) const
    {
        nghttp2_session_callbacks_del(callbacks);
    }
};

std::string_view view(const std::uint8_t *data, std::size_t len)
{
    return {reinterpret_cast<const char *>(data), len};
}

nghttp2_nv header(const char *name, const char *value)
{
    return nghttp2_nv{reinterpret_cast<std::uint8_t *>(const_cast<char *>(name)),
                      reinterpret_cast<std::uint8_t *>(const_cast<char *>(value)),
                      std::strlen(name), std::strlen(value), NGHTTP2_NV_FLAG_NONE};
}

} // namespace

// One socket and HTTP/2 session. nghttp2's callbacks only record what
// happened (messages parsed, the first failure); WorkloadClient::handle()
// dispatches the handlers once nghttp2 has returned.
struct WorkloadClient::Connection {
    struct Call {
        explicit Call(Rpc rpc) : rpc(rpc) {}
        Rpc rpc;
        std::int32_t streamId = -1;
        std::size_t requestSent = 0; // of the 5-byte empty request message
        GrpcFrameDecoder decoder;
        std::size_t headerBytes = 0; // of the header block being received
        int httpStatus = 0;
        std::string contentType;
        bool headersDone = false;
        std::optional<int> grpcStatus;
        std::string grpcMessage;
        bool ended = false; // END_STREAM or RST_STREAM seen: nothing more to do
    };
    struct Rejected {
        WorkloadError error;
    };
    using Event = std::variant<X509Context, BundleSet, Rejected>;

    explicit Connection(const Endpoint &endpoint) : endpoint(endpoint) {}
    ~Connection()
    {
        session.reset();
        OPENSSL_cleanse(readBuffer.data(), readBuffer.size());
        if (fd >= 0)
            ::close(fd);
    }

    std::string open();
    std::string startSession();
    void pump(std::uint32_t events);
    bool readSome();
    void flush();
    void fail(WorkloadError error)
    {
        if (!failure)
            failure = std::move(error);
    }
    Call *find(std::int32_t streamId)
    {
        if (streamId == svid.streamId)
            return &svid;
        if (streamId == bundles.streamId)
            return &bundles;
        return nullptr;
    }
    void headersReceived(Call &call, bool endStream);
    void deliver(Call &call, std::span<const std::uint8_t> message);
    void streamEnded(Call &call);

    static int onBeginHeaders(nghttp2_session *, const nghttp2_frame *frame, void *self);
    static int onHeader(nghttp2_session *, const nghttp2_frame *frame, const std::uint8_t *name,
                        std::size_t namelen, const std::uint8_t *value, std::size_t valuelen,
                        std::uint8_t flags, void *self);
    static int onFrameRecv(nghttp2_session *, const nghttp2_frame *frame, void *self);
    static int onDataChunk(nghttp2_session *, std::uint8_t flags, std::int32_t streamId,
                           const std::uint8_t *data, std::size_t len, void *self);
    static int onStreamClose(nghttp2_session *, std::int32_t streamId, std::uint32_t errorCode,
                             void *self);
    static int onError(nghttp2_session *, int libErrorCode, const char *msg, std::size_t len,
                       void *self);
    static ssize_t readRequest(nghttp2_session *, std::int32_t streamId, std::uint8_t *buf,
                               std::size_t length, std::uint32_t *flags,
                               nghttp2_data_source *source, void *self);

    const Endpoint &endpoint;
    int fd = -1;
    bool connecting = false;
    bool settingsReceived = false;
    std::unique_ptr<nghttp2_session, SessionFree> session;
    Call svid{Rpc::Svid};
    Call bundles{Rpc::Bundles};
    std::vector<std::uint8_t> outbox;
    std::size_t outboxSent = 0;
    std::string libError; // nghttp2's last word on a protocol error
    std::optional<WorkloadError> failure;
    std::vector<Event> events;
    std::array<std::uint8_t, readChunk> readBuffer{};
};

std::string WorkloadClient::Connection::open()
{
    if (endpoint.kind == Endpoint::Kind::Unix) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (endpoint.address.size() >= sizeof(addr.sun_path))
            return "the socket path " + endpoint.address + " is too long";
        std::memcpy(addr.sun_path, endpoint.address.c_str(), endpoint.address.size() + 1);
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return "cannot create a socket: " + errnoText(errno);
        if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) == 0)
            return {};
        int err = errno;
        if (err == ENOENT)
            return "no such socket " + endpoint.address + ": " + errnoText(err);
        if (err == EAGAIN)
            return "the agent's socket " + endpoint.address +
                   " does not accept connections now (listen backlog full)";
        return "cannot connect to " + endpoint.address + ": " + errnoText(err);
    }

    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = endpoint.address.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (family == AF_INET) {
        auto *in = reinterpret_cast<sockaddr_in *>(&addr);
        in->sin_family = AF_INET;
        in->sin_port = htons(endpoint.port);
        if (inet_pton(AF_INET, endpoint.address.c_str(), &in->sin_addr) != 1)
            return "not an IPv4 address: " + endpoint.address;
        len = sizeof(*in);
    } else {
        auto *in6 = reinterpret_cast<sockaddr_in6 *>(&addr);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(endpoint.port);
        if (inet_pton(AF_INET6, endpoint.address.c_str(), &in6->sin6_addr) != 1)
            return "not an IPv6 address: " + endpoint.address;
        len = sizeof(*in6);
    }
    fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return "cannot create a socket: " + errnoText(errno);
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), len) == 0)
        return {};
    if (errno == EINPROGRESS) {
        connecting = true;
        return {};
    }
    return "cannot connect to " + endpoint.uri + ": " + errnoText(errno);
}

std::string WorkloadClient::Connection::startSession()
{
    nghttp2_session_callbacks *raw = nullptr;
    if (nghttp2_session_callbacks_new(&raw) != 0)
        return "out of memory";
    std::unique_ptr<nghttp2_session_callbacks, CallbacksFree> callbacks(raw);
    nghttp2_session_callbacks_set_on_begin_headers_callback(raw, onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(raw, onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw, onFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, onDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw, onStreamClose);
    nghttp2_session_callbacks_set_error_callback2(raw, onError);

    nghttp2_session *s = nullptr;
    if (nghttp2_session_client_new(&s, raw, this) != 0)
        return "cannot create an HTTP/2 session (out of memory)";
    session.reset(s);

    // The connection preface (magic and these SETTINGS) goes out with the first send.
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, streamWindow},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, maxHeaderBytes},
    };
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
        nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, connectionWindow) != 0)
        return "cannot queue the HTTP/2 settings";

    for (Call *call : {&svid, &bundles}) {
        const nghttp2_nv headers[] = {
            header(":method", "POST"),
            header(":scheme", "http"),
            header(":path", rpcPath(call->rpc)),
            header(":authority", "localhost"),
            header("content-type", "application/grpc"),
            header("te", "trailers"),
            header("workload.spiffe.io", "true"),
        };
        nghttp2_data_provider body{};
        body.source.ptr = call;
        body.read_callback = readRequest;
        std::int32_t id =
            nghttp2_submit_request(s, nullptr, headers, std::size(headers), &body, nullptr);
        if (id < 0)
            return std::string("cannot queue the ") + rpcName(call->rpc) +
                   " request: " + nghttp2_strerror(id);
        call->streamId = id;
    }
    return {};
}

ssize_t WorkloadClient::Connection::readRequest(nghttp2_session *, std::int32_t, std::uint8_t *buf,
                                                std::size_t length, std::uint32_t *flags,
                                                nghttp2_data_source *source, void *)
{
    // One empty message (not compressed, length 0), then END_STREAM.
    auto *call = static_cast<Call *>(source->ptr);
    std::size_t n = std::min(GrpcFrameDecoder::headerSize - call->requestSent, length);
    std::memset(buf, 0, n);
    call->requestSent += n;
    if (call->requestSent == GrpcFrameDecoder::headerSize)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
}

int WorkloadClient::Connection::onBeginHeaders(nghttp2_session *, const nghttp2_frame *frame,
                                               void *self)
{
    auto *conn = static_cast<Connection *>(self);
    if (Call *call = conn->find(frame->hd.stream_id))
        call->headerBytes = 0;
    return 0;
}

int WorkloadClient::Connection::onHeader(nghttp2_session *, const nghttp2_frame *frame,
                                         const std::uint8_t *name, std::size_t namelen,
                                         const std::uint8_t *value, std::size_t valuelen,
                                         std::uint8_t, void *self)
{
    auto *conn = static_cast<Connection *>(self);
    Call *call = conn->find(frame->hd.stream_id);
    if (call == nullptr || call->ended || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    try {
        // Sized as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
        call->headerBytes += namelen + valuelen + 32;
        if (call->headerBytes > maxHeaderBytes) {
            conn->fail(statusError(grpcInternal, std::string(rpcName(call->rpc)) +
                                                     ": a header block is over " +
                                                     std::to_string(maxHeaderBytes) + " bytes"));
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        std::string_view key = view(name, namelen);
        std::string_view text = view(value, valuelen);
        if (key == ":status") {
            int status = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
            call->httpStatus = ec == std::errc() && end == text.data() + text.size() ? status : -1;
        } else if (key == "content-type") {
            call->contentType = text;
        } else if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            // The status counts only from the trailers (or a Trailers-Only
            // reply): the header blocks that end the stream.
        } else if (key == "grpc-status") {
            int status = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
            bool valid = ec == std::errc() && end == text.data() + text.size() && status >= 0;
            call->grpcStatus = valid ? status : grpcUnknown;
            if (!valid)
                call->grpcMessage = "invalid grpc-status \"" + printable(text) + "\"";
        } else if (key == "grpc-message") {
            call->grpcMessage = percentDecode(text);
        }
    } catch (const std::exception &e) {
        conn->fail(statusError(grpcInternal, std::string("out of memory: ") + e.what()));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

void WorkloadClient::Connection::headersReceived(Call &call, bool endStream)
{
    std::string rpc = rpcName(call.rpc);
    if (!call.headersDone) {
        if (call.httpStatus >= 100 && call.httpStatus < 200) {
            call.httpStatus = 0; // informational; the real response follows
            return;
        }
        call.headersDone = true;
        if (call.httpStatus != 200) {
            int code = statusFromHttp(call.httpStatus);
            WorkloadError error = statusError(code, rpc + ": the agent answered HTTP status " +
                                                        std::to_string(call.httpStatus) + " (" +
                                                        grpcCodeName(code) + ")");
            // Only a gRPC status from the agent itself stops the retries: an
            // HTTP error (a proxy, a restarting agent) is tried again.
            error.retry = true;
            fail(std::move(error));
            return;
        }
        // A Trailers-Only reply with a grpc-status is judged by its status alone.
        bool trailersOnly = endStream && call.grpcStatus;
        // "application/grpc", or with a "+format" or ";parameters" after it.
        std::string_view type = call.contentType;
        bool grpc = type.starts_with("application/grpc") &&
                    (type.size() == 16 || type[16] == '+' || type[16] == ';');
        if (!trailersOnly && !grpc) {
            fail(statusError(grpcInternal, rpc + ": the response's content-type is \"" +
                                               printable(call.contentType) +
                                               "\", not application/grpc"));
            return;
        }
    }
    if (endStream)
        streamEnded(call);
}

void WorkloadClient::Connection::streamEnded(Call &call)
{
    call.ended = true;
    std::string rpc = rpcName(call.rpc);
    if (!call.decoder.atBoundary()) {
        fail(statusError(grpcInternal, rpc + ": the stream ended inside a message"));
        return;
    }
    if (!call.grpcStatus) {
        fail(statusError(grpcInternal, rpc + ": the stream ended without a grpc-status"));
        return;
    }
    int code = *call.grpcStatus;
    std::string text = rpc + " ended with status " + grpcCodeName(code);
    if (!call.grpcMessage.empty())
        text += ": " + call.grpcMessage;
    if (code == 0) {
        // Both RPCs stream as long as the connection lives: an orderly end means the agent left.
        fail(statusError(grpcUnavailable, text + " (the agent ended the stream)"));
        return;
    }
    if (call.rpc == Rpc::Bundles && code == grpcUnimplemented && !svid.ended && !failure) {
        // Older agents lack FetchX509Bundles; the SVIDs carry the bundles anyway.
        events.push_back(Rejected{statusError(code, text)});
        return;
    }
    fail(statusError(code, text));
}

int WorkloadClient::Connection::onFrameRecv(nghttp2_session *, const nghttp2_frame *frame,
                                            void *self)
{
    auto *conn = static_cast<Connection *>(self);
    try {
        switch (frame->hd.type) {
        case NGHTTP2_SETTINGS:
            if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
                conn->settingsReceived = true;
            break;
        case NGHTTP2_GOAWAY: {
            std::string text = std::string("the agent sent GOAWAY (") +
                               nghttp2_http2_strerror(frame->goaway.error_code) + ")";
            if (frame->goaway.opaque_data_len > 0)
                text += ": " +
                        printable(view(frame->goaway.opaque_data, frame->goaway.opaque_data_len));
            conn->fail(statusError(grpcUnavailable, text));
            break;
        }
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA: {
            Call *call = conn->find(frame->hd.stream_id);
            if (call == nullptr || call->ended)
                break;
            bool endStream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
            if (frame->hd.type == NGHTTP2_HEADERS)
                conn->headersReceived(*call, endStream);
            else if (endStream)
                conn->streamEnded(*call);
            break;
        }
        default:
            break;
        }
    } catch (const std::exception &e) {
        conn->fail(statusError(grpcInternal, std::string("out of memory: ") + e.what()));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

void WorkloadClient::Connection::deliver(Call &call, std::span<const std::uint8_t> message)
{
    if (failure)
        return;
    std::string rejected;
    if (call.rpc == Rpc::Svid) {
        auto context = parseX509SvidResponse(message);
        if (auto *ok = std::get_if<X509Context>(&context))
            events.emplace_back(std::move(*ok));
        else
            rejected = std::move(std::get<std::string>(context));
    } else {
        auto set = parseX509BundlesResponse(message);
        if (auto *ok = std::get_if<BundleSet>(&set))
            events.emplace_back(std::move(*ok));
        else
            rejected = std::move(std::get<std::string>(set));
    }
    if (!rejected.empty())
        events.push_back(Rejected{WorkloadError{
            grpcInternal, "malformed_response",
            std::string(rpcName(call.rpc)) + " response rejected: " + rejected, true}});
}

int WorkloadClient::Connection::onDataChunk(nghttp2_session *, std::uint8_t, std::int32_t streamId,
                                            const std::uint8_t *data, std::size_t len, void *self)
{
    auto *conn = static_cast<Connection *>(self);
    Call *call = conn->find(streamId);
    if (call == nullptr || call->ended || conn->failure)
        return 0;
    try {
        std::string err = call->decoder.feed(
            {data, len}, [&](std::span<const std::uint8_t> m) { conn->deliver(*call, m); });
        if (!err.empty()) {
            conn->fail(statusError(grpcInternal, std::string(rpcName(call->rpc)) + ": " + err));
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    } catch (const std::exception &e) {
        conn->fail(statusError(grpcInternal, std::string("out of memory: ") + e.what()));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

int WorkloadClient::Connection::onStreamClose(nghttp2_session *, std::int32_t streamId,
                                              std::uint32_t errorCode, void *self)
{
    auto *conn = static_cast<Connection *>(self);
    Call *call = conn->find(streamId);
    if (call == nullptr || call->ended)
        return 0;
    call->ended = true;
    try {
        int code = statusFromReset(errorCode);
        conn->fail(statusError(code, std::string(rpcName(call->rpc)) + ": the stream was reset (" +
                                         nghttp2_http2_strerror(errorCode) + ")"));
    } catch (const std::exception &) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

int WorkloadClient::Connection::onError(nghttp2_session *, int, const char *msg, std::size_t len,
                                        void *self)
{
    auto *conn = static_cast<Connection *>(self);
    try {
        conn->libError = printable(std::string_view(msg, len));
    } catch (const std::exception &) {
    }
    return 0;
}

bool WorkloadClient::Connection::readSome()
{
    for (int i = 0; i < maxReadsPerHandle; i++) {
        ssize_t n = ::recv(fd, readBuffer.data(), readBuffer.size(), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            fail(statusError(grpcUnavailable, "reading from the agent at " + endpoint.uri + ": " +
                                                  errnoText(errno)));
            return false;
        }
        if (n == 0) {
            fail(statusError(grpcUnavailable,
                             "the agent at " + endpoint.uri + " closed the connection"));
            return false;
        }
        ssize_t used =
            nghttp2_session_mem_recv(session.get(), readBuffer.data(), static_cast<std::size_t>(n));
        // The bytes may have carried a private key.
        OPENSSL_cleanse(readBuffer.data(), static_cast<std::size_t>(n));
        if (used < 0) {
            std::string text =
                std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(used));
            if (!libError.empty())
                text += " (" + libError + ")";
            fail(statusError(grpcInternal, text));
            return false;
        }
        if (failure)
            return false;
        if (static_cast<std::size_t>(n) < readBuffer.size())
            return true;
    }
    return true;
}

void WorkloadClient::Connection::flush()
{
    for (;;) {
        if (outboxSent < outbox.size()) {
            ssize_t n =
                ::send(fd, outbox.data() + outboxSent, outbox.size() - outboxSent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                fail(statusError(grpcUnavailable, "writing to the agent at " + endpoint.uri + ": " +
                                                      errnoText(errno)));
                return;
            }
            outboxSent += static_cast<std::size_t>(n);
            continue;
        }
        outbox.clear();
        outboxSent = 0;
        const std::uint8_t *data = nullptr;
        ssize_t n = nghttp2_session_mem_send(session.get(), &data);
        if (n < 0) {
            fail(statusError(grpcInternal, std::string("HTTP/2 error: ") +
                                               nghttp2_strerror(static_cast<int>(n))));
            return;
        }
        if (n == 0)
            return;
        outbox.assign(data, data + n);
    }
}

void WorkloadClient::Connection::pump(std::uint32_t ready)
{
    if (connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            fail(statusError(grpcUnavailable,
                             "cannot connect to " + endpoint.uri + ": " + errnoText(err)));
            return;
        }
        if (!(ready & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        connecting = false;
    }
    if ((ready & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !readSome())
        return;
    flush();
    if (!failure && outboxSent == outbox.size() && !nghttp2_session_want_read(session.get()) &&
        !nghttp2_session_want_write(session.get()))
        fail(statusError(grpcInternal,
                         "the HTTP/2 session ended" + (libError.empty() ? "" : ": " + libError)));
}

WorkloadClient::WorkloadClient(Endpoint endpoint, Handlers handlers)
    : endpoint_(std::move(endpoint)), handlers_(std::move(handlers))
{
}

WorkloadClient::~WorkloadClient()
{
    teardown();
}

std::string WorkloadClient::connect()
{
    close();
    auto conn = std::make_unique<Connection>(endpoint_);
    if (std::string err = conn->open(); !err.empty())
        return err;
    if (endpoint_.kind == Endpoint::Kind::Unix && handlers_.checkServer)
        if (std::string err = handlers_.checkServer(conn->fd); !err.empty())
            return err;
    if (std::string err = conn->startSession(); !err.empty())
        return err;
    if (!conn->connecting) {
        conn->flush();
        if (conn->failure)
            return conn->failure->message;
    }
    conn_ = std::move(conn);
    return {};
}

int WorkloadClient::fd() const
{
    return conn_ ? conn_->fd : -1;
}

std::uint32_t WorkloadClient::events() const
{
    if (!conn_)
        return 0;
    std::uint32_t wanted = EPOLLIN;
    if (conn_->connecting || conn_->outboxSent < conn_->outbox.size() ||
        nghttp2_session_want_write(conn_->session.get()))
        wanted |= EPOLLOUT;
    return wanted;
}

bool WorkloadClient::connected() const
{
    return conn_ && conn_->settingsReceived;
}

void WorkloadClient::close()
{
    generation_++;
    teardown();
}

void WorkloadClient::teardown()
{
    conn_.reset();
}

template <typename Handler, typename Arg>
void WorkloadClient::invoke(const Handler &handler, Arg &&arg)
{
    if (!handler)
        return;
    try {
        handler(std::forward<Arg>(arg));
    } catch (const std::exception &e) {
        lastHandlerError_ = e.what();
    } catch (...) {
        lastHandlerError_ = "an exception that is not a std::exception";
    }
}

void WorkloadClient::handle(std::uint32_t ready)
{
    if (!conn_)
        return;
    std::vector<Connection::Event> events;
    std::optional<WorkloadError> failure;
    try {
        conn_->pump(ready);
        events = std::move(conn_->events);
        conn_->events.clear();
        failure = std::move(conn_->failure);
    } catch (const std::exception &e) {
        failure = statusError(grpcInternal, std::string("internal error: ") + e.what());
    }
    // A failed connection stays open (and its fd number taken) while the
    // messages it delivered are handled: a handler that opens a socket must
    // not get the number the owner's event loop still has registered. Then it
    // goes, before `closed` runs, so that that handler may reconnect.
    const std::uint64_t generation = generation_;
    for (auto &event : events) {
        if (generation_ != generation)
            return; // a handler called close() or connect(): the rest belongs to the old connection
        if (auto *context = std::get_if<X509Context>(&event))
            invoke(handlers_.x509Context, std::move(*context));
        else if (auto *set = std::get_if<BundleSet>(&event))
            invoke(handlers_.bundles, std::move(*set));
        else
            invoke(handlers_.rejected, std::get<Connection::Rejected>(event).error);
    }
    if (failure && generation_ == generation) {
        teardown();
        invoke(handlers_.closed, *failure);
    }
}

} // namespace spiffe
