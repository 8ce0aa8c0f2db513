import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// The process-wide Prometheus registry. swift-metrics can be bootstrapped once per process, so
/// every application built in it (tests build many) shares this one.
public enum DovetailMetrics {
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    public static func bootstrap() {
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
    }
}

struct MetricsController {
    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("metrics") { _, _ in
            var buffer: [UInt8] = []
            DovetailMetrics.registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}
