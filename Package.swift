// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "dovetail",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dovetail", targets: ["dovetail"]),
        .library(name: "DovetailStore", targets: ["DovetailStore"]),
        .library(name: "DovetailAPI", targets: ["DovetailAPI"]),
        .library(name: "DovetailOps", targets: ["DovetailOps"]),
        .library(name: "DovetailTesting", targets: ["DovetailTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .executableTarget(
            name: "dovetail",
            dependencies: [
                "DovetailStore",
                "DovetailAPI",
                "DovetailOps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DovetailStore",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DovetailAPI",
            dependencies: [
                "DovetailStore",
                // Agent deploy/update/undeploy routes run the same AgentDeployer as the CLI.
                "DovetailOps",
                .product(name: "Hummingbird", package: "hummingbird"),
                // HummingbirdCore and NIOHTTP1: answering HTTP parser errors with problem+json (ProblemHTTPServer.swift).
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // NIOPosix: `HealthProbe`, the HTTP client of `dovetail health` (no FoundationNetworking, so no libcurl).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DovetailOps",
            dependencies: [
                "DovetailStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DovetailTesting",
            dependencies: [
                "DovetailStore",
                "DovetailAPI",
                "DovetailOps",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dovetail-bench",
            dependencies: ["DovetailStore", "DovetailTesting", .product(name: "SQLKit", package: "sql-kit")],
            path: "Benchmarks/Sources/dovetail-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dovetail-agent-bench",
            dependencies: ["DovetailOps", "DovetailStore", "DovetailTesting", .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/Sources/dovetail-agent-bench",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DovetailStoreTests",
            dependencies: ["DovetailStore", "DovetailTesting", .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DovetailOpsTests",
            dependencies: ["DovetailOps", "DovetailStore", "DovetailTesting", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DovetailCLITests",
            dependencies: ["dovetail", "DovetailStore", "DovetailTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DovetailAPITests",
            dependencies: [
                "DovetailAPI", "DovetailStore", "DovetailTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
