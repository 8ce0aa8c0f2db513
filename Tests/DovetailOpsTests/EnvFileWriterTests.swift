import DovetailStore
import DovetailTesting
import Foundation
import Testing

@testable import DovetailOps

@Suite("EnvFileWriter: merging .env")
struct EnvFileWriterTests {
    static let managedValues: [(key: String, value: String)] = [
        ("POSTGRES_USER", "dovetail_abc"),
        ("POSTGRES_PASSWORD", "p@ss/w:rd?#&%x"),
        ("POSTGRES_DB", "dovetail"),
        ("POSTGRES_PORT", "5532"),
    ]

    @Test
    func keepsEveryOtherLineAndRewritesKeysInPlace() {
        let original = """
            # Project settings
            export LOG_LEVEL=debug

            POSTGRES_PORT=1234   # old port
            CERT="-----BEGIN-----
            POSTGRES_USER=not-a-key-but-part-of-CERT
            -----END-----"
            POSTGRES_DB=old
            OTHER='single quoted # not a comment'
            POSTGRES_DB=older
            LAST=no-newline
            """
        let (merged, change) = EnvFileWriter.merge(original, setting: Self.managedValues, removing: [], header: "Managed")
        let expected = """
            # Project settings
            export LOG_LEVEL=debug

            POSTGRES_PORT=5532
            CERT="-----BEGIN-----
            POSTGRES_USER=not-a-key-but-part-of-CERT
            -----END-----"
            POSTGRES_DB=dovetail
            OTHER='single quoted # not a comment'
            LAST=no-newline

            # Managed
            POSTGRES_USER=dovetail_abc
            POSTGRES_PASSWORD='p@ss/w:rd?#&%x'

            """
        #expect(merged == expected)
        #expect(change.replaced == ["POSTGRES_PORT", "POSTGRES_DB"])
        #expect(change.added == ["POSTGRES_USER", "POSTGRES_PASSWORD"])

        // Every value reads back as written, and the other variables are untouched.
        let values = try? EnvironmentFile.parse(merged, path: ".env")
        #expect(values?["POSTGRES_PASSWORD"] == "p@ss/w:rd?#&%x")
        #expect(values?["POSTGRES_USER"] == "dovetail_abc")
        #expect(values?["POSTGRES_DB"] == "dovetail")
        #expect(values?["CERT"] == "-----BEGIN-----\nPOSTGRES_USER=not-a-key-but-part-of-CERT\n-----END-----")
        #expect(values?["OTHER"] == "single quoted # not a comment")
        #expect(values?["LAST"] == "no-newline")
        #expect(values?["LOG_LEVEL"] == "debug")
    }

    @Test
    func keepsExportAndWindowsLineEnds() {
        let original = "A=1\r\nexport POSTGRES_DB=old\r\n"
        let (merged, _) = EnvFileWriter.merge(original, setting: [("POSTGRES_DB", "new"), ("B", "2")], removing: [], header: nil)
        #expect(merged == "A=1\r\nexport POSTGRES_DB=new\r\nB=2\r\n")
    }

    @Test
    func removesKeysAndNothingElse() {
        let original = "# keep\nPOSTGRES_PASSWORD='x'\nKEEP=1\nPOSTGRES_USER=u\n"
        let (merged, change) = EnvFileWriter.merge(original, setting: [], removing: ["POSTGRES_PASSWORD", "POSTGRES_USER", "ABSENT"], header: nil)
        #expect(merged == "# keep\nKEEP=1\n")
        #expect(change.removed == ["POSTGRES_PASSWORD", "POSTGRES_USER"])
    }

    @Test
    func removingWhatSetAppendedRestoresTheFile() {
        let original = "# mine\nA=1\n"
        let (added, _) = EnvFileWriter.merge(original, setting: Self.managedValues, removing: [], header: "Managed")
        #expect(added.hasPrefix("# mine\nA=1\n\n# Managed\nPOSTGRES_USER="))
        let (removed, change) = EnvFileWriter.merge(added, setting: [], removing: Set(Self.managedValues.map { $0.key }), header: "Managed")
        #expect(removed == original)
        #expect(change.removed.count == 4)
    }

    /// Values any of the readers of .env (dovetail, Docker Compose, python-dotenv, sh) could misread are quoted so that
    /// they all read them the same; `$` is never expanded inside single quotes.
    @Test(arguments: ["plain", "p@ss/w:rd", "with space", "dollar$HOME", "a'quote", "two\nlines", "back\\slash", "#hash", ""])
    func valuesReadBackUnchanged(_ value: String) throws {
        let (merged, _) = EnvFileWriter.merge("", setting: [("VALUE", value)], removing: [], header: nil)
        let values = try EnvironmentFile.parse(merged, path: ".env")
        #expect(values["VALUE"] == value, "written as \(merged)")
    }

    @Test
    func writesAtomicallyWithMode0600() throws {
        try ManagedPostgresSandbox.withDirectory { sandbox in
            let path = sandbox.directory + "/.env"
            try "# mine\nKEEP=1\n".write(toFile: path, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)

            let change = try EnvFileWriter(path: path).set(Self.managedValues, header: "Managed")
            #expect(change.added.count == 4)
            #expect(try fileMode(path) == 0o600)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("# mine\nKEEP=1\n\n# Managed\n"))
            // No temporary file is left next to it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.directory) == [".env"])

            // A new file is created with mode 0600 too.
            let fresh = sandbox.directory + "/fresh.env"
            try EnvFileWriter(path: fresh).set([("A", "1")])
            #expect(try fileMode(fresh) == 0o600)
            #expect(try String(contentsOfFile: fresh, encoding: .utf8) == "A=1\n")
        }
    }

    @Test
    func followsASymbolicLink() throws {
        try ManagedPostgresSandbox.withDirectory { sandbox in
            let target = sandbox.directory + "/real.env"
            let link = sandbox.directory + "/.env"
            try "KEEP=1\n".write(toFile: target, atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            try EnvFileWriter(path: link).set([("A", "2")])
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "KEEP=1\nA=2\n")
            #expect(try fileMode(target) == 0o600)
        }
    }
}

extension ManagedPostgresSandbox {
    /// A sandbox for tests that start no server.
    static func withDirectory(_ body: (ManagedPostgresSandbox) throws -> Void) throws {
        let sandbox = try Self.make()
        defer { try? FileManager.default.removeItem(atPath: sandbox.directory) }
        try body(sandbox)
    }
}
