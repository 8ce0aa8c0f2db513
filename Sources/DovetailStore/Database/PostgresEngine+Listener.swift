import NIOSSL
import PostgresNIO

extension PostgresEngine {
    /// The listening connection's configuration: the pool's address, credentials and TLS, without the pool's
    /// statement and transaction timeouts (it runs nothing but `LISTEN` and pings), named so that
    /// `pg_stat_activity` tells it from the pool's connections.
    static func listenerConfiguration(_ info: PostgresConnectionInfo) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let directory = info.unixSocketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(info.port)", username: info.username, password: info.password, database: info.database
            )
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch info.sslMode {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration(verify: false)))
            case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(verify: false)))
            case .verifyCA, .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(verify: true)))
            }
            configuration = PostgresConnection.Configuration(
                host: info.host, port: info.port, username: info.username, password: info.password, database: info.database, tls: tls
            )
        }
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = [("application_name", "\(info.applicationName) (live events)")]
        return configuration
    }
}
