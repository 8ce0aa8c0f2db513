import ArgumentParser
import DovetailStore
import Foundation

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Service tokens for the API.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (shown this once only).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A name to recognise the token by.") var name: String
        @Option(help: "read, write or admin.") var scope: String
        @Option(help: "Lifetime such as 30d, 12h, 90m or 3600s; no expiry when omitted.") var expires: String?

        func run() async throws {
            guard let tokenScope = TokenScope(rawValue: scope) else { throw ValidationError("--scope must be read, write or admin.") }
            let seconds = try expires.map(Self.parseLifetime)
            try await CLI.run {
                try await DB.withStore(database) { store in
                    try await store.migrator.migrate(logger: CLI.makeLogger("dovetail.tokens"))
                    let created = try await store.tokens.create(name: name, scope: tokenScope, expiresIn: seconds)
                    print(created.secret)
                    FileHandle.standardError.write(Data((
                        "Created token '\(created.token.name)' (\(created.token.scope.rawValue)\(created.token.expiresAt.map { ", expires \($0)" } ?? "")). "
                            + "Store the secret now: it cannot be shown again.\n"
                    ).utf8))
                }
            }
        }

        static func parseLifetime(_ text: String) throws -> Int64 {
            let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            guard let unit = text.last, let factor = units[unit], let count = Int64(text.dropLast()), count > 0 else {
                throw ValidationError("--expires must look like 30d, 12h, 90m or 3600s.")
            }
            return count * factor
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await CLI.run {
                try await DB.withStore(database) { store in
                    let now = Timestamp.now()
                    for token in try await store.tokens.list() {
                        let state = token.revokedAt != nil ? "revoked" : (token.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
                        print("\(token.id)  \(token.name)  \(token.scope.rawValue)  \(state)  uses=\(token.useCount)  last_used=\(token.lastUsedAt?.description ?? "never")")
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id or name.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token's id or name.") var token: String

        func run() async throws {
            try await CLI.run {
                try await DB.withStore(database) { store in
                    let revoked = try await store.tokens.revoke(token)
                    print("Revoked \(revoked.name) (\(revoked.id)).")
                }
            }
        }
    }
}
