import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A project directory for tests of `dovetail postgres`: under /tmp (so that, as root, the `postgres` user that runs
/// the server can reach it), with a free port, and a clean-up that stops every server started in it, whatever state the
/// test left it in.
public struct ManagedPostgresSandbox: Sendable {
    /// Absolute; the working directory of the commands under test, where `.env` goes.
    public let directory: String
    /// Free a moment ago, for the server under test.
    public let port: Int

    public static func make() throws -> ManagedPostgresSandbox {
        let directory = "/tmp/dovetail-managed-pg-\(UUID().uuidString.prefix(12).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        return ManagedPostgresSandbox(directory: directory, port: try TestSupport.freePort())
    }

    /// Runs `body` in a fresh sandbox and always destroys it afterwards, also when `body` throws.
    public static func with(_ body: (ManagedPostgresSandbox) async throws -> Void) async throws {
        let sandbox = try Self.make()
        do {
            try await body(sandbox)
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
    }

    /// Stops every PostgreSQL server whose data directory is inside the sandbox and removes the sandbox.
    public func destroy() async {
        self.stopServers()
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Immediate shutdown (SIGQUIT) of every server with a `postmaster.pid` in the sandbox; SIGKILL after 10 s.
    public func stopServers() {
        let fileManager = FileManager.default
        guard let enumerator = fileManager.enumerator(atPath: self.directory) else { return }
        var pidFiles: [String] = []
        for case let relative as String in enumerator where relative.hasSuffix("/postmaster.pid") {
            pidFiles.append(self.directory + "/" + relative)
        }
        for pidFile in pidFiles {
            guard let contents = fileManager.contents(atPath: pidFile),
                let line = String(decoding: contents, as: UTF8.self).split(separator: "\n").first,
                let pid = pid_t(line.trimmingCharacters(in: .whitespaces)), pid > 0, kill(pid, SIGQUIT) == 0
            else { continue }
            for _ in 0..<400 {
                if !fileManager.fileExists(atPath: pidFile) || kill(pid, 0) != 0 { break }
                usleep(25_000)
            }
            if fileManager.fileExists(atPath: pidFile) { kill(pid, SIGKILL) }
        }
    }

    /// Listens on `port` of 127.0.0.1 until `close()`: another program holding the port.
    public final class PortBlocker: Sendable {
        private let descriptor: Int32

        public init(port: Int) throws {
            #if canImport(Darwin)
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
            #else
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #endif
            guard descriptor >= 0 else { throw SandboxError("cannot create a socket (errno \(errno))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard bound, listen(descriptor, 1) == 0 else {
                closeDescriptor(descriptor)
                throw SandboxError("cannot listen on 127.0.0.1:\(port) (errno \(errno))")
            }
            self.descriptor = descriptor
        }

        public func close() {
            closeDescriptor(self.descriptor)
        }
    }

    public struct SandboxError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}

private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
