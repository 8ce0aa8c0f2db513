/// Whether a host name or address is this machine's loopback interface: the one rule for the TLS
/// default of a PostgreSQL URL and for `serve`'s open-on-loopback authentication alike.
public enum LoopbackHost {
    public static func contains(_ host: String) -> Bool {
        let host = host.lowercased()
        return host == "localhost" || host == "localhost." || host.hasPrefix("127.") || host == "::1" || host == "0:0:0:0:0:0:0:1"
    }
}
