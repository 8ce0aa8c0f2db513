import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// SQLite in WAL mode: one writer connection behind a FIFO lock, and a few reader connections
/// that see committed data while a write is under way.
///
/// `:memory:` databases exist per connection, so there the writer serves reads too (under the lock,
/// so a read never lands inside another task's transaction).
final class SQLiteEngine: DatabaseEngine {
    let dialect = Dialect.sqlite
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    /// Opened with `mode=ro`: SQLite itself refuses every write, and the file is never created or converted to WAL.
    let isReadOnly: Bool
    private let writeLock = AsyncLock()
    private let nextReader = Atomic<Int>(0)
    private let logger: Logger
    /// SQLite calls block their thread (a write may sleep in the busy handler while another process
    /// commits), so each engine has threads of its own: one per connection, none shared with
    /// other engines or with NIO's singleton pool, where a waiting writer could starve the commit it waits for.
    private let threadPool: NIOThreadPool

    /// How long SQLite waits for another process's write lock before giving up.
    static let busyTimeoutMilliseconds = 30_000
    static let readerCount = 4

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], threadPool: NIOThreadPool, isReadOnly: Bool = false, logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.isReadOnly = isReadOnly
        self.threadPool = threadPool
        self.logger = logger
    }

    static func open(_ location: SQLiteLocation, readOnly: Bool = false, logger: Logger) async throws -> SQLiteEngine {
        if readOnly, case .file(let path) = location {
            return try await openReadOnly(path: path, logger: logger)
        }
        let connectionCount = location == .memory ? 1 : readerCount + 1
        let threadPool = NIOThreadPool(numberOfThreads: connectionCount)
        threadPool.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        do {
            switch location {
            case .memory:
                let connection = try await SQLiteConnection.open(storage: .memory, threadPool: threadPool, logger: logger, on: eventLoop)
                do {
                    try await configure(connection, enableWAL: false)
                } catch {
                    try? await connection.close()
                    throw error
                }
                return SQLiteEngine(writer: connection, readers: [], threadPool: threadPool, logger: logger)
            case .file(let path):
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                let directory = (absolute as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                var opened: [SQLiteConnection] = []
                do {
                    for index in 0...readerCount {
                        let connection = try await SQLiteConnection.open(storage: .file(path: absolute), threadPool: threadPool, logger: logger, on: eventLoop)
                        opened.append(connection)
                        try await configure(connection, enableWAL: index == 0)
                    }
                } catch {
                    // SQLiteNIO traps when a connection is released unclosed.
                    for connection in opened { try? await connection.close() }
                    throw error
                }
                return SQLiteEngine(writer: opened[0], readers: Array(opened.dropFirst()), threadPool: threadPool, logger: logger)
            }
        } catch let error as StoreError {
            try? await threadPool.shutdownGracefully()
            throw error
        } catch {
            try? await threadPool.shutdownGracefully()
            throw StoreError.unavailable("Cannot open the SQLite database at \(location.displayPath): \(Self.describe(error)). Check that the directory exists and is writable.")
        }
    }

    /// Opens an existing database file read-only, through a `file:` URI with `mode=ro`: nothing is created,
    /// the journal mode is left as it is, and any write is refused by SQLite itself. Used for `db copy` sources.
    private static func openReadOnly(path: String, logger: Logger) async throws -> SQLiteEngine {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: absolute) else {
            throw StoreError.unavailable("There is no SQLite database at \(path).")
        }
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var opened: [SQLiteConnection] = []
        do {
            for _ in 0..<2 {
                let connection = try await SQLiteConnection.open(
                    storage: .file(path: readOnlyURI(absolute)), threadPool: threadPool, logger: logger, on: eventLoop
                )
                opened.append(connection)
                _ = try await connection.query("PRAGMA query_only=1")
                _ = try await connection.query("PRAGMA busy_timeout=\(busyTimeoutMilliseconds)")
            }
            // Opening is lazy: read the schema now, so a file that is not a database fails here with a clear message.
            _ = try await opened[0].query("SELECT count(*) FROM sqlite_master")
        } catch {
            for connection in opened { try? await connection.close() }
            try? await threadPool.shutdownGracefully()
            throw StoreError.unavailable("Cannot open the SQLite database at \(path) read-only: \(Self.describe(error)).")
        }
        return SQLiteEngine(writer: opened[0], readers: Array(opened.dropFirst()), threadPool: threadPool, isReadOnly: true, logger: logger)
    }

    /// `file:/abs/path?mode=ro`, with the characters that URI filenames give a meaning (`%`, `?`, `#`) escaped.
    static func readOnlyURI(_ absolutePath: String) -> String {
        var escaped = ""
        for byte in absolutePath.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "?"), UInt8(ascii: "#"), 0..<0x21, 0x7F...0xFF:
                escaped += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            default:
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return "file:\(escaped)?mode=ro"
    }

    /// WAL is a property of the file (set once); `foreign_keys` and `busy_timeout` are per connection.
    private static func configure(_ connection: SQLiteConnection, enableWAL: Bool) async throws {
        if enableWAL {
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
        }
        _ = try await connection.query("PRAGMA foreign_keys=ON")
        _ = try await connection.query("PRAGMA busy_timeout=\(busyTimeoutMilliseconds)")
    }

    private static func sql(_ connection: SQLiteConnection) -> any SQLDatabase {
        connection.sql(encoder: .init(), decoder: .init(), queryLogLevel: nil)
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await onReader { connection in try await body(Self.sql(connection)) }
    }

    /// Straight through SQLiteNIO, rows decoded by `SQLiteResultRow`.
    func fetch<Statement: FrequentStatement>(_ statement: Statement) async throws -> [any SQLRow] {
        let text = dialect.frequentStatementText(Statement.text)
        let binds = statement.values.map { value -> SQLiteData in
            switch value {
            case .text(let text): .text(text)
            case .integer(let integer): .integer(integer)
            }
        }
        return try await onReader { connection in try await connection.query(text, binds).map(SQLiteResultRow.init) }
    }

    /// Runs `body` on the next reader connection in turn (the writer, under the lock, for `:memory:`).
    private func onReader<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        do {
            if readers.isEmpty {
                return try await writeLock.withLock { try await body(writer) }
            }
            let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
            return try await body(readers[abs(index) % readers.count])
        } catch {
            throw Self.translate(error)
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await writeLock.withLock {
                let database = Self.sql(writer)
                try await database.raw(SQLQueryString(dialect.beginWriteTransaction)).run()
                do {
                    let result = try await body(database)
                    try await database.raw("COMMIT").run()
                    return result
                } catch {
                    try? await database.raw("ROLLBACK").run()
                    throw error
                }
            }
        } catch {
            throw Self.translate(error)
        }
    }

    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await writeLock.withLock { try await body(Self.sql(writer)) }
        } catch {
            throw Self.translate(error)
        }
    }

    /// Runs `body` on one reader connection (the writer, under the lock, for `:memory:`), so that several
    /// statements can share one read transaction: `db copy` reads a consistent snapshot this way.
    func withReadConnection<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        do {
            if readers.isEmpty {
                return try await writeLock.withLock { try await body(writer) }
            }
            return try await body(readers[0])
        } catch {
            throw Self.translate(error)
        }
    }

    /// Runs `body` on the writer connection, holding the write lock throughout; `body` manages transactions itself.
    func withWriteConnection<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        do {
            return try await writeLock.withLock { try await body(writer) }
        } catch {
            throw Self.translate(error)
        }
    }

    var requestBound: Duration? { nil }

    func shutdown() async {
        for connection in readers + [writer] {
            try? await connection.close()
        }
        try? await threadPool.shutdownGracefully()
    }

    static func translate(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        guard let sqliteError = error as? SQLiteError else { return error }
        switch sqliteError.reason {
        case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
            return StoreError.conflict("That value is already taken: \(constraintName(sqliteError.message)).")
        case .constraintForeignKeyFailed:
            return StoreError.invalid("A referenced row does not exist.")
        case .constraintCheckFailed, .constraintNotNullFailed:
            return StoreError.invalid("A value breaks a rule of the data model: \(constraintName(sqliteError.message)).")
        case .busy, .busyTimeout, .locked, .busyInRecovery, .busyInSnapshot:
            return StoreError.unavailable("The SQLite database is locked by another process (\(sqliteError.reason)); try again shortly.")
        case .readOnly, .readonlyCantLock, .readonlyDirectory, .readonlyInRecovery, .readonlyInRollback, .readonlyBackingMoved, .full, .ioError:
            return StoreError.unavailable("The SQLite database cannot be written (\(sqliteError.reason)): check disk space and file permissions.")
        default:
            return StoreError(.internalFailure, "SQLite failed: \(sqliteError.message)")
        }
    }

    /// SQLite messages name the constraint (`UNIQUE constraint failed: projects.slug`); they never echo values.
    private static func constraintName(_ message: String) -> String {
        message.components(separatedBy: ": ").last ?? message
    }

    private static func describe(_ error: any Error) -> String {
        (error as? SQLiteError)?.message ?? String(describing: error)
    }
}

extension SQLiteLocation {
    var displayPath: String {
        switch self {
        case .memory: ":memory:"
        case .file(let path): path
        }
    }
}
