import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An account of this machine, looked up in the user database.
public struct SystemUser: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t

    /// Nil when there is no such user.
    public static func named(_ name: String) -> SystemUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return SystemUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// The name of the user with id `uid`, or nil when there is none.
    public static func name(of uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// The name of the effective user, or nil when it has no entry (a container started with an arbitrary uid).
    public static var currentName: String? {
        self.name(of: geteuid())
    }

    public static var current: (uid: uid_t, gid: gid_t) { (geteuid(), getegid()) }

    /// Makes `path` and everything under it owned by this user; returns how many entries changed owner. Symbolic links
    /// are changed themselves, never followed.
    @discardableResult
    public func takeOwnership(of path: String) throws -> Int {
        var changed = 0
        func change(_ entry: String) throws {
            var info = stat()
            guard lstat(entry, &info) == 0 else { return }
            guard info.st_uid != self.uid || info.st_gid != self.gid else { return }
            guard lchown(entry, self.uid, self.gid) == 0 else {
                throw OwnershipError(description: "cannot make \(entry) owned by \(self.name): \(String(cString: strerror(errno)))")
            }
            changed += 1
        }
        try change(path)
        if let enumerator = FileManager.default.enumerator(atPath: path) {
            for case let relative as String in enumerator {
                try change(path + "/" + relative)
            }
        }
        return changed
    }

    public struct OwnershipError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The owner of `path`, or nil if it does not exist.
    public static func ownerIDs(of path: String) -> (uid: uid_t, gid: gid_t)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid)
    }
}
