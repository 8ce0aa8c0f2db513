import DovetailStore
import Testing

@testable import DovetailOps

@Suite("Generated PostgreSQL credentials")
struct PostgresCredentialsTests {
    @Test
    func strongAndNeverShared() {
        let generated = (0..<50).map { _ in PostgresCredentials.generate() }
        #expect(Set(generated.map(\.password)).count == 50)
        #expect(Set(generated.map(\.user)).count == 50)
        let allowed = Set(PostgresCredentials.letters + PostgresCredentials.symbols)
        for credentials in generated {
            #expect(credentials.password.count == 32)
            #expect(credentials.password.allSatisfy(allowed.contains))
            // At least one character that must be percent-encoded in a URL, so encoding is always exercised.
            #expect(credentials.password.contains(where: PostgresCredentials.symbols.contains))
            #expect(credentials.user.hasPrefix("dovetail_") && credentials.user.count == 17)
            #expect(credentials.database == "dovetail")
        }
        // Nothing a .env reader would treat specially.
        #expect(!allowed.contains("$") && !allowed.contains("'") && !allowed.contains("\"") && !allowed.contains("\\") && !allowed.contains(" "))
    }

    @Test
    func databaseURLPercentEncodesThePasswordAndParsesBack() throws {
        let credentials = PostgresCredentials(user: "dovetail_x", password: "a@b/c:d?e#f%g&h+i=j!k*l,m;n", database: "dovetail")
        let info = credentials.connectionInfo(port: 5532)
        #expect(
            info.urlString == "postgresql://dovetail_x:a%40b%2Fc%3Ad%3Fe%23f%25g%26h%2Bi%3Dj%21k%2Al%2Cm%3Bn@127.0.0.1:5532/dovetail?sslmode=disable")
        guard case .postgres(let parsed) = try DatabaseURL(parsing: info.urlString) else {
            Issue.record("not a PostgreSQL URL")
            return
        }
        #expect(parsed == info)
        #expect(parsed.password == credentials.password)
    }

    @Test
    func descriptionsHideThePassword() {
        let credentials = PostgresCredentials.generate()
        for text in [String(describing: credentials), String(reflecting: credentials), "\(credentials)", "\(credentials.connectionInfo(port: 1))"] {
            #expect(!text.contains(credentials.password))
        }
    }
}
